"""Long sequences: the half-precision forward through the module, replayed from a graph, against the stream and
the kernel alone (same x), and with the host held behind a device sleep (replays queued ahead).
python3 long.py T[,T] [neurons]"""

import sys

import torch
from replays import captured, queued_ms

from analysis.bench_backends import make_neuron, replayed, streamed
from analysis.bench_fused import TAU
from spikessm_snn.backends.fused.autograd import SAVE_NOTHING, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec

dev = torch.device("cuda")


def ahead(fn, repeats=10):
    """replays queued behind a 5 ms device sleep (one replay first): the host is never what the device waits on."""
    graph = captured(fn, dev)
    graph.replay()
    return queued_ms(graph, dev, repeats, int(1e7))


steps_list = [int(t) for t in sys.argv[1].split(",")]
kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else ["lif", "srr"]
for T in steps_list:
    base = torch.randn(T, 64, 256, device=dev) + 0.3
    for dtype in (torch.float32, torch.bfloat16):
        x = base.to(dtype)
        g = torch.randn_like(x)
        for kind in kinds:
            neuron = make_neuron(kind, "cupy", TAU).to(dev)
            neuron.check_finite = False

            def forward(neuron=neuron, x=x):
                with torch.no_grad():
                    neuron(x)

            spec = KernelSpec(str(dtype).removeprefix("torch."), neuron.spike_fn, neuron.hard_reset, False)
            with torch.no_grad():
                p = neuron.parameters_for(x[0], torch.float32)
            constants = (
                torch.stack([c.float().expand(64, 256) for c in (p.tau, p.threshold, p.tau_r, p.refractory)])
                .reshape(4, -1)
                .contiguous()
            )

            def alone(spec=spec, x=x, constants=constants):
                _launch_forward(spec, x, constants, None, None, 0.0, SAVE_NOTHING, None)

            reps = 20 if T <= 16384 else 5
            res = {
                "module graph": replayed(forward, dev, reps),
                "module graph ahead": ahead(forward),
                "module stream": streamed(forward, dev, reps),
                "kernel graph": replayed(alone, dev, reps),
                "kernel graph ahead": ahead(alone),
                "module graph again": replayed(forward, dev, reps),
            }
            print(f"T={T} {kind} {dtype!s:15s} " + "  ".join(f"{k} {v * 1e3:8.1f}" for k, v in res.items()), flush=True)
        del x, g
    del base
    torch.cuda.empty_cache()
