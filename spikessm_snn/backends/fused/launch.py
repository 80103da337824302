"""Compile (once per kernel spec and device) and launch the fused kernels on torch tensors, zero-copy.

Tensors reach the kernel as their device pointers (what a DLPack capsule would hand over,
without its per-tensor conversion cost of tens of microseconds a call); kernels run on
torch's current CUDA stream of the tensors' device. Nothing here waits for the device, so a
launch can be captured in a CUDA graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .source import KernelSpec, kernel_source

THREADS = 128
KernelArgument = Tensor | int | float | np.generic | None
KernelSource = Callable[[KernelSpec], str]  # the CUDA source of a module of kernels, for a spec


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


def kernel_arguments(spec: KernelSpec, args: list[KernelArgument]) -> tuple[np.generic, ...]:
    """The kernel's parameters as fixed-size scalars: a tensor as its pointer, ``None`` as a null
    pointer, an int as ``long long`` (unless given as ``np.int32``), a float as the accumulator type."""
    acc = np.float64 if spec.acc == "double" else np.float32

    def convert(a: KernelArgument) -> np.generic:
        if isinstance(a, Tensor):
            return np.uint64(a.data_ptr())
        if a is None:
            return np.uint64(0)
        if isinstance(a, np.generic):
            return a
        return np.int64(a) if isinstance(a, int) else acc(a)

    return tuple(convert(a) for a in args)


@functools.cache
def _kernel(source: KernelSource, spec: KernelSpec, name: str, device_index: int) -> Any:
    """The compiled kernel as CuPy's ``Function`` on this device (compiled and loaded once)."""
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=source(spec), options=("--std=c++17",)).get_function(name).kernel


@functools.lru_cache(maxsize=64)
def _stream(torch_stream: torch.cuda.Stream) -> Any:
    """CuPy's view of a torch stream (torch streams compare equal by device and pointer), made once."""
    import cupy

    if hasattr(cupy.cuda.Stream, "from_external"):
        return cupy.cuda.Stream.from_external(torch_stream)
    return cupy.cuda.ExternalStream(torch_stream.cuda_stream)


def launch(spec: KernelSpec, name: str, n: int, device: torch.device, args: list[KernelArgument],
           source: KernelSource = kernel_source) -> None:  # fmt: skip
    """Run kernel ``name`` of ``source(spec)`` with ``n`` threads (one per neuron, or per chunk and
    neuron) on ``device``'s current torch stream; ``args`` as ``kernel_arguments`` takes them
    (tensors on ``device``, contiguous). The kernel and the stream's wrapper are looked up, not made:
    a launch costs CuPy's argument packing and the driver call."""
    import cupy

    index = device.index if device.index is not None else torch.cuda.current_device()
    kernel = _kernel(source, spec, name, index)
    with cupy.cuda.Device(index):
        kernel(((n + THREADS - 1) // THREADS,), (THREADS,), kernel_arguments(spec, args), 0,
               _stream(torch.cuda.current_stream(device)))  # fmt: skip
