"""Compile (once per kernel spec) and launch the fused kernels on torch tensors, zero-copy.

Tensors reach the kernel as their device pointers (what a DLPack capsule would hand over,
without its per-tensor conversion cost of tens of microseconds a call); kernels run on
torch's current CUDA stream of the tensors' device.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .source import KernelSpec, kernel_source

THREADS = 128


@functools.cache
def cupy_missing() -> str | None:
    """``None`` where CuPy and a CUDA GPU are usable, else what is missing (asked once a process)."""
    try:
        import cupy
    except ImportError as error:
        return f"CuPy is not installed ({error}); install cupy-cuda12x or cupy-cuda13x to match your CUDA"
    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU"
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return f"CuPy cannot reach a CUDA GPU ({error})"
    return None


@functools.cache
def _module(spec: KernelSpec) -> Any:
    import cupy

    return cupy.RawModule(code=kernel_source(spec), options=("--std=c++17",))


def _stream(device: torch.device) -> Any:
    import cupy

    torch_stream = torch.cuda.current_stream(device)
    if hasattr(cupy.cuda.Stream, "from_external"):
        return cupy.cuda.Stream.from_external(torch_stream)
    return cupy.cuda.ExternalStream(torch_stream.cuda_stream)


def launch(spec: KernelSpec, name: str, n: int, device: torch.device, args: list[Tensor | int | float]) -> None:
    """Run kernel ``name`` with one thread per neuron on ``device``'s current torch stream.

    Tensors (on ``device``, contiguous) pass as pointers; ints as ``long long`` unless given as
    ``np.int32``; floats as the accumulator type.
    """
    import cupy

    acc = np.float64 if spec.acc == "double" else np.float32

    def convert(a: Tensor | int | float) -> Any:
        if isinstance(a, Tensor):
            return np.uint64(a.data_ptr())
        if isinstance(a, np.generic):
            return a
        return np.int64(a) if isinstance(a, int) else acc(a)

    kernel = _module(spec).get_function(name)
    with cupy.cuda.Device(device.index), _stream(device):
        kernel(((n + THREADS - 1) // THREADS,), (THREADS,), tuple(convert(a) for a in args))
