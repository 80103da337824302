"""The fused kernels alone, replayed from a CUDA graph: forward (saving checkpoints), backward, and both
(us), N = 16384 neurons time-first, triangle surrogate, soft reset. Run from a checkout of the code to
time: ``python3 kernels_ab.py TAG [T,T,...]``; each line is tagged. The environment may set ``N`` (the
neurons), ``DTYPES`` (comma-separated, float32 first) and ``BC`` (the half-precision ``backward_chunk``;
float32 keeps 16)."""

import os
import sys
from pathlib import Path

import torch

import spikessm_snn
from analysis.bench_backends import replayed
from spikessm_snn.backends.fused.autograd import SAVE_FOR_BACKWARD, _launch_backward, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

device, n, tag = torch.device("cuda"), int(os.environ.get("N", "16384")), sys.argv[1]
print(f"[{tag}] the package measured: {Path(spikessm_snn.__file__).parent}", flush=True)
dtypes = os.environ.get("DTYPES", "float32,bfloat16,float16").split(",")
half_chunk = int(os.environ.get("BC", "16"))
steps_list = [int(t) for t in sys.argv[2].split(",")] if len(sys.argv) > 2 else [1024, 4096]
for steps in steps_list:
    both_ms = {}
    for dtype in dtypes:
        x = (torch.randn(steps, n, device=device) + 0.3).to(getattr(torch, dtype))
        g = torch.randn_like(x)
        for neuron, values in (("LIF", [0.125, 1.0, 0.0, 0.0]), ("SRR", [0.5, 1.0, 0.8, 0.5])):
            constants = torch.tensor(values, device=device).repeat_interleave(n).view(4, n).contiguous()
            chunk = half_chunk if dtype != "float32" else 16
            spec = KernelSpec(dtype, Surrogate("triangle", 1.0), neuron == "LIF", False, backward_chunk=chunk)

            def forward(spec=spec, x=x, constants=constants):
                return _launch_forward(spec, x, constants, None, None, 0.0, SAVE_FOR_BACKWARD, None)

            def backward(run, spec=spec, x=x, g=g, constants=constants):
                _launch_backward(spec, (*run.kept, constants, None, None), {"g_spikes": g}, True, False, x.dtype, 0.0)

            saved = forward()
            forward_ms = replayed(forward, device, 20)
            backward_ms = replayed(lambda saved=saved, backward=backward: backward(saved), device, 20)
            both = replayed(lambda forward=forward, backward=backward: backward(forward()), device, 20)
            both_ms[dtype, neuron] = both
            ratio = f" x{both / both_ms['float32', neuron]:.2f} of float32" if dtype != "float32" else ""
            print(
                f"[{tag}] T={steps:5d} {dtype:8s} {neuron}: fwd-save {forward_ms * 1e3:6.1f} "
                f"bwd {backward_ms * 1e3:6.1f} fwd+bwd {both * 1e3:6.1f}{ratio}",
                flush=True,
            )
        del x, g
