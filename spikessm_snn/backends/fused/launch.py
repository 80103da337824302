"""Compile (once per kernel spec) and launch the fused kernels on torch tensors, zero-copy.

Tensors reach CuPy through DLPack (half types as int16 views, which DLPack and CuPy take for
any GPU); kernels run on torch's current CUDA stream of the tensors' device.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .source import KernelSpec, kernel_source

THREADS = 128


def cupy_missing() -> str | None:
    """``None`` where CuPy and a CUDA GPU are usable, else what is missing."""
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


def _cupy_view(t: Tensor) -> Any:
    import cupy

    t = t.detach()  # DLPack refuses tensors that require grad; the kernels are outside autograd
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return cupy.from_dlpack(t)


def launch(spec: KernelSpec, name: str, n: int, device: torch.device, args: list[Tensor | int | float]) -> None:
    """Run kernel ``name`` with one thread per neuron on ``device``'s current torch stream.

    Tensors pass as pointers; ints as ``long long`` unless flagged by ``np.int32``; floats
    as the accumulator type.
    """
    import cupy

    acc = np.float64 if spec.acc == "double" else np.float32
    converted = [
        _cupy_view(a) if isinstance(a, Tensor) else a if isinstance(a, np.generic) else
        np.int64(a) if isinstance(a, int) else acc(a)
        for a in args
    ]  # fmt: skip
    kernel = _module(spec).get_function(name)
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream):
        kernel(((n + THREADS - 1) // THREADS,), (THREADS,), tuple(converted))
