"""Slow graph replays of the half-precision forward (T=4096, N=16384): two blocks on one SM, or a host that is late?
Each of several fresh graphs of the forward kernel alone: replays driven by the host (as analysis' replayed) and
replays queued behind a device sleep (the host ahead); the blocks' SMs read back (count of SMs with 2+ blocks).
python3 smid.py LABEL"""

import collections
import sys

import torch
from replays import queued_ms

from analysis.bench_backends import streamed
from spikessm_snn.backends.fused.launch import launch
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source
from spikessm_snn.neurons.surrogate import Surrogate

dev = torch.device("cuda")
T, N = 4096, 16384
LINE = "const bool active = i < n;"
label = sys.argv[1]


def with_smid(spec):
    s = kernel_source(spec)
    at = s.index(LINE, s.index("neuron_forward("))
    probe = (
        'if (threadIdx.x == 0 && h_seq && save == 0) { unsigned sm; asm volatile("mov.u32 %0, %%smid;" : "=r"(sm)); '
        "h_seq[blockIdx.x] = (acc_t)sm; }\n  "
    )
    return s[:at] + probe + s[at:]


def ahead(graph, repeats=20):
    return queued_ms(graph, dev, repeats, int(2e6)) * 1e3


for dtype in (torch.bfloat16, torch.float16):
    x = (torch.randn(T, N, device=dev) + 0.3).to(dtype)
    for neuron, values in (("LIF", [0.125, 1.0, 0.0, 0.0]), ("SRR", [0.5, 1.0, 0.8, 0.5])):
        constants = torch.tensor(values, device=dev).repeat_interleave(N).view(4, N).contiguous()
        spec = KernelSpec(str(dtype).removeprefix("torch."), Surrogate("triangle", 1.0), neuron == "LIF", False)
        sms = torch.full((N // 128,), -1.0, device=dev)
        for trial in range(6):
            pad = torch.empty(int(torch.randint(1, 40, ())) * 2**20, dtype=torch.uint8, device=dev)
            spikes, final = torch.empty_like(x), torch.empty(2, N, dtype=dtype, device=dev)

            args = [x, spikes, sms, None, None, constants, None, None, final, T, N, 0.0, 0, None]

            def fwd(spec=spec, args=args):
                launch(spec, "neuron_forward", N, dev, args, source=with_smid)

            fwd()
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                fwd()
            host = streamed(graph.replay, dev, 20) * 1e3
            queued = ahead(graph)
            host2 = streamed(graph.replay, dev, 20) * 1e3
            per_sm = collections.Counter(sms.int().tolist())
            doubled = sum(1 for c in per_sm.values() if c > 1)
            print(f"[{label}] {dtype!s:15s} {neuron} trial {trial}: host-driven {host:6.1f} {host2:6.1f}  "
                  f"queued {queued:6.1f} us; SMs used {len(per_sm)}, with 2+ blocks {doubled}", flush=True)  # fmt: skip
            del graph, pad, spikes
