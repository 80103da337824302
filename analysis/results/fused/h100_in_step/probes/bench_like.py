"""The bench's sequence for each cell (timed, streamed, replayed) with the forward kernel probed: the SM of
each block written to a buffer baked into the source. After the bench's replayed(forward), three more fresh
graphs, each host-driven and queued behind a device sleep; SMs with 2+ blocks counted. python3 bench_like.py T"""

import collections
import sys

import torch
from replays import captured, queued_ms

import spikessm_snn.backends.fused.launch as L
from analysis.bench_backends import make_neuron, replayed, streamed, timed
from analysis.bench_fused import TAU
from spikessm_snn.backends.fused.source import kernel_source

dev = torch.device("cuda")
T = int(sys.argv[1])
probe_buf = torch.full((4096,), -1.0, device=dev)
LINE = "const bool active = i < n;"


def with_smid(spec):
    s = kernel_source(spec)
    at = s.index(LINE, s.index("neuron_forward("))
    probe = (
        'if (threadIdx.x == 0) { unsigned sm; asm volatile("mov.u32 %0, %%smid;" : "=r"(sm)); '
        f"((float*){probe_buf.data_ptr()}ULL)[blockIdx.x] = (float)sm; }}\n  "
    )
    return s[:at] + probe + s[at:]


L.launch.__defaults__ = (with_smid,)


def doubled():
    c = collections.Counter(v for v in probe_buf.int().tolist() if v >= 0)
    return sum(1 for k in c.values() if k > 1)


def queued(fn, repeats=20):
    return queued_ms(captured(fn, dev), dev, repeats, int(4e6))


base = torch.randn(T, 64, 256, device=dev) + 0.3
for round_ in range(2):
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        x = base.to(dtype)
        g = torch.randn_like(x)
        for kind in ("lif", "srr"):
            neuron = make_neuron(kind, "cupy", TAU).to(dev)
            neuron.check_finite = False

            def forward(neuron=neuron, x=x):
                with torch.no_grad():
                    neuron(x)

            def forward_backward(neuron=neuron, x=x, g=g):
                neuron(x.detach().requires_grad_()).spikes.backward(g)

            timed(forward, dev, 10)
            timed(forward_backward, dev, 10)
            s = streamed(forward, dev, 10)
            streamed(forward_backward, dev, 10)
            r0 = replayed(forward, dev, 10)
            d0 = doubled()
            more = []
            for _ in range(3):
                more.append(f"{replayed(forward, dev, 10) * 1e3:6.1f}/{doubled()}")
                more.append(f"q{queued(forward) * 1e3:6.1f}/{doubled()}")
            replayed(forward_backward, dev, 10)
            print(
                f"[{round_}] T={T} {kind} {dtype!s:15s} stream {s * 1e3:6.1f}  bench-graph {r0 * 1e3:6.1f}/{d0}  then "
                + " ".join(more),
                flush=True,
            )
        del x, g
