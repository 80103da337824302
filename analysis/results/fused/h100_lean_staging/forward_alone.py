"""The forward kernel alone, replayed from a CUDA graph, without and with saving checkpoints (us): N = 16384,
time-first, half precision, at T (default 4096). Run from a checkout of the code to time:
``python3 forward_alone.py TAG [T,T,...]``."""

import sys

import torch

from analysis.bench_backends import replayed
from spikessm_snn.backends.fused.autograd import SAVE_FOR_BACKWARD, SAVE_NOTHING, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

device, n, tag = torch.device("cuda"), 16384, sys.argv[1]
for steps in [int(t) for t in sys.argv[2].split(",")] if len(sys.argv) > 2 else [4096]:
    for dtype in ("bfloat16", "float16"):
        x = (torch.randn(steps, n, device=device) + 0.3).to(getattr(torch, dtype))
        for neuron, values in (("LIF", [0.125, 1.0, 0.0, 0.0]), ("SRR", [0.5, 1.0, 0.8, 0.5])):
            constants = torch.tensor(values, device=device).repeat_interleave(n).view(4, n).contiguous()
            spec = KernelSpec(dtype, Surrogate("triangle", 1.0), neuron == "LIF", False)

            def forward(save, spec=spec, x=x, constants=constants):
                return _launch_forward(spec, x, constants, None, None, 0.0, save, None)

            ms = [replayed(lambda save=save: forward(save), device, 20) for save in (SAVE_NOTHING, SAVE_FOR_BACKWARD)]
            print(f"[{tag}] T={steps:5d} {dtype:8s} {neuron}: fwd {ms[0] * 1e3:6.1f} fwd-save {ms[1] * 1e3:6.1f}")
        del x
