"""The fused kernels launched once each, for Nsight Compute: the forward that saves checkpoints, then the backward
(dL/ds given, dL/dx wanted), float32 then bfloat16, LIF (hard reset) then SRR (soft reset), N = 16384 neurons,
triangle surrogate. ``python3 launch_once.py T`` from the repository root (``PYTHONPATH=.``)."""

import sys

import torch

from spikessm_snn.backends.fused.autograd import SAVE_FOR_BACKWARD, _launch_backward, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

device, n = torch.device("cuda"), 16384
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
for dtype in ("float32", "bfloat16"):
    x = (torch.randn(steps, n, device=device) + 0.3).to(getattr(torch, dtype))
    g = torch.randn_like(x)
    for neuron, values in (("LIF", [0.125, 1.0, 0.0, 0.0]), ("SRR", [0.5, 1.0, 0.8, 0.5])):
        constants = torch.tensor(values, device=device).repeat_interleave(n).view(4, n).contiguous()
        spec = KernelSpec(dtype, Surrogate("triangle", 1.0), neuron == "LIF", False)
        run = _launch_forward(spec, x, constants, None, None, 0.0, SAVE_FOR_BACKWARD, None)
        _launch_backward(spec, (*run.kept, constants, None, None), {"g_spikes": g}, True, False, x.dtype, 0.0)
        torch.cuda.synchronize()
        print(dtype, neuron, "done", flush=True)
