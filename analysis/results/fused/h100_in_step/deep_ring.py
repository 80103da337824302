"""A deeper backward ring: the backward's segments staged from dynamic shared memory of STAGING bytes a block
(48 KiB is the code's static ring), kernels alone replayed from a CUDA graph, fwd (saving) + bwd, us.
dL/dx checked bit-equal to the code's. python3 deep_ring.py T[,T] N"""

import dataclasses
import sys

import cupy
import torch

import spikessm_snn.backends.fused.launch as L
import spikessm_snn.backends.fused.source as S
from analysis.bench_backends import replayed
from spikessm_snn.backends.fused.autograd import SAVE_FOR_BACKWARD, _launch_backward, _launch_forward, gradient_bits
from spikessm_snn.neurons.surrogate import Surrogate

dev = torch.device("cuda")
RING = "__shared__ __align__(16) Slot ring[WARPS][BSTAGES];"


@dataclasses.dataclass(frozen=True)
class DeepSpec(S.KernelSpec):
    backward_staging: int = 48 * 1024

    def __post_init__(self):
        pass

    @property
    def backward_stages(self):
        return max(2, (self.backward_staging // 4 - self._warp_outputs[1]) // self._warp_segment_bytes)

    @property
    def forward_stages(self):
        return max(2, (48 * 1024 // 4 - self._warp_outputs[0]) // self._warp_tile_bytes)


def deep_source(spec):
    s = S.kernel_source(spec)
    assert s.count(RING) == 1
    return s.replace(
        RING,
        "extern __shared__ __align__(16) unsigned char dynamic_ring[];\n"
        "  Slot (*ring)[BSTAGES] = reinterpret_cast<Slot (*)[BSTAGES]>(dynamic_ring);",
    )


def deep_backward(spec, run, g, constants, x):
    kernel = L._kernel(deep_source, spec, "neuron_backward", 0)
    shared = 4 * spec.backward_stages * spec._warp_segment_bytes
    cupy.cuda.driver.funcSetAttribute(kernel.ptr, 8, shared)  # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    steps, n = x.shape[0], x[0].numel()
    g_x = torch.empty_like(x)
    args = [
        g,
        None,
        None,
        None,
        *run.kept,
        constants,
        None,
        None,
        g_x,
        None,
        steps,
        n,
        0.0,
        gradient_bits({"g_spikes": g}, True),
    ]
    extra = L._buffer.fill(L.parameter_layout(deep_source, spec, "neuron_backward"), args)
    stream = torch._C._cuda_getCurrentRawStream(0)
    with cupy.cuda.Device(0):
        cupy.cuda.driver.launchKernel(kernel.ptr, (n + 127) // 128, 1, 1, 128, 1, 1, shared, stream, 0, extra)
    return g_x


steps_list = [int(t) for t in sys.argv[1].split(",")]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
for steps in steps_list:
    for dtype in ("float32", "bfloat16"):
        x = (torch.randn(steps, n, device=dev) + 0.3).to(getattr(torch, dtype))
        g = torch.randn_like(x)
        for neuron, values in (("LIF", [0.125, 1.0, 0.0, 0.0]), ("SRR", [0.5, 1.0, 0.8, 0.5])):
            constants = torch.tensor(values, device=dev).repeat_interleave(n).view(4, n).contiguous()
            spec0 = S.KernelSpec(dtype, Surrogate("triangle", 1.0), neuron == "LIF", False)

            def code(spec0=spec0, x=x, g=g, constants=constants):
                run = _launch_forward(spec0, x, constants, None, None, 0.0, SAVE_FOR_BACKWARD, None)
                return _launch_backward(
                    spec0, (*run.kept, constants, None, None), {"g_spikes": g}, True, False, x.dtype, 0.0
                )[0]

            want = code()
            line = [f"code {replayed(code, dev, 20) * 1e3:6.1f}"]
            for staging in (48, 96, 160):
                spec = DeepSpec(
                    dtype, Surrogate("triangle", 1.0), neuron == "LIF", False, backward_staging=staging * 1024
                )

                def deep(spec=spec, spec0=spec0, x=x, g=g, constants=constants):
                    run = _launch_forward(spec0, x, constants, None, None, 0.0, SAVE_FOR_BACKWARD, None)
                    return deep_backward(spec, run, g, constants, x)

                differs = "" if torch.equal(deep(), want) else " DIFFERS"
                us = replayed(deep, dev, 20) * 1e3
                line.append(f"{staging}K ({spec.backward_stages} slots) {us:6.1f}{differs}")
            print(f"T={steps:5d} N={n} {dtype:8s} {neuron}: " + " | ".join(line), flush=True)
        del x, g
