"""Warps out of step: the forward kernel alone (graph replays) with warps or blocks started out of step, with and
without a block barrier after each tile (a block's four warps then stage each row's 4 x 64 B at once). Runs on the code
before the barrier (8c920b3), whose forward it patches: ``python3 drift.py 4096,16384``."""

import functools
import sys

import torch

from analysis.bench_backends import replayed
from spikessm_snn.backends.fused.launch import launch
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source
from spikessm_snn.neurons.surrogate import Surrogate

dev = torch.device("cuda")
N = 16384
LINE = "const bool active = i < n;"
SYNC = "__syncwarp();  // every lane is done with the tile"


@functools.cache
def variant(cycles: int, per: str, barrier: bool):
    unit = "(blockIdx.x * 4 + threadIdx.x / 32)" if per == "warp" else "blockIdx.x"

    def source(spec):
        s = kernel_source(spec)
        at = s.index(LINE, s.index("neuron_forward("))
        wait = (
            f"{{ const long long d = {cycles}LL * ({unit} % 16); "
            "const long long s0 = clock64(); while (clock64() - s0 < d) {} }\n  "
        )
        s = s[:at] + wait + s[at:]
        if barrier:
            assert s.count(SYNC) == 1
            s = s.replace(SYNC, "__syncthreads();  // block in step")
        return s

    return source


def time_forward(spec, x, spikes, final, constants, source) -> float:
    """Microseconds of the forward kernel of ``source`` alone, replayed from a CUDA graph."""
    steps, n = x.shape
    args = [x, spikes, None, None, None, constants, None, None, final, steps, n, 0.0, 0, None]
    return replayed(lambda: launch(spec, "neuron_forward", n, dev, args, source=source), dev, 20) * 1e3


for T in [int(t) for t in sys.argv[1].split(",")]:
    for dtype in (torch.float32, torch.bfloat16):
        x = (torch.randn(T, N, device=dev) + 0.3).to(dtype)
        spikes, final = torch.empty_like(x), torch.empty(2, N, dtype=dtype, device=dev)
        constants = torch.tensor([0.125, 1.0, 0.0, 0.0], device=dev).repeat_interleave(N).view(4, N).contiguous()
        spec = KernelSpec(str(dtype).removeprefix("torch."), Surrogate("triangle", 1.0), True, False)
        for barrier in (False, True):
            for per in ("warp", "block"):
                times = [
                    time_forward(spec, x, spikes, final, constants, variant(d, per, barrier)) for d in (0, 1000, 4000)
                ]
                row = [f"D={d:5d} {us:7.1f}" for d, us in zip((0, 1000, 4000), times, strict=True)]
                print(f"T={T} {dtype!s:15s} barrier={barrier!s:5s} per {per:5s} " + " | ".join(row), flush=True)
