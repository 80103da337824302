"""Compile (once per kernel spec and device) and launch the fused kernels on torch tensors, zero-copy.

A launch packs the kernel's parameters into one buffer laid out as its C parameter list (each at
its natural alignment, as a C struct) and hands it to the driver (``cuLaunchKernel``'s
``CU_LAUNCH_PARAM_BUFFER_POINTER``): tensors as their device pointers, with no per-argument objects
(CuPy's own argument conversion costs about a microsecond an argument). Kernels run on torch's
current CUDA stream of the tensors' device. Nothing here waits for the device, so a launch can be
captured in a CUDA graph.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .source import THREADS, KernelSpec, kernel_source

KernelArgument = Tensor | int | float | np.int32 | None
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


def argument_codes(spec: KernelSpec, args: list[KernelArgument]) -> tuple[str, list[int | float]]:
    """The kernel's parameters as ``struct`` codes and values: a tensor as its pointer and ``None`` as
    a null pointer (``Q``), an int as ``long long`` (``q``) unless given as ``np.int32`` (``i``), a float
    as the accumulator type (``f``, or ``d`` for float64)."""
    real = "d" if spec.acc == "double" else "f"
    codes, values = [], []
    for a in args:
        if isinstance(a, Tensor):
            codes.append("Q")
            values.append(a.data_ptr())
        elif a is None:
            codes.append("Q")
            values.append(0)
        elif isinstance(a, np.int32):
            codes.append("i")
            values.append(int(a))
        elif isinstance(a, int):
            codes.append("q")
            values.append(a)
        else:
            codes.append(real)
            values.append(float(a))
    return "".join(codes), values


def _layout(spec: KernelSpec, args: list[KernelArgument]) -> tuple[struct.Struct, list[int | float]]:
    """The kernel's parameter struct (each value at its natural alignment) and the values to pack."""
    codes, values = argument_codes(spec, args)
    return struct.Struct("@" + codes), values


def packed_arguments(spec: KernelSpec, args: list[KernelArgument]) -> bytes:
    """The parameters as the kernel reads them: one buffer, each value at its natural alignment."""
    layout, values = _layout(spec, args)
    return layout.pack(*values)


_BUFFER_POINTER, _BUFFER_SIZE, _END = 1, 2, 0  # cuLaunchKernel's ``extra`` keys (CU_LAUNCH_PARAM_*)
PARAMETER_BYTES = 4096  # the driver's limit on a kernel's parameters


class _LaunchBuffer(threading.local):
    """Each thread's parameter buffer and ``extra`` array for ``cuLaunchKernel``, made once and
    refilled at each launch (the driver copies the parameters before the launch returns)."""

    def __init__(self) -> None:
        self.parameters = ctypes.create_string_buffer(PARAMETER_BYTES)
        self.size = ctypes.c_size_t(0)
        self.extra = (ctypes.c_void_p * 5)(_BUFFER_POINTER, ctypes.addressof(self.parameters), _BUFFER_SIZE,
                                           ctypes.addressof(self.size), _END)  # fmt: skip
        self.extra_address = ctypes.addressof(self.extra)

    def fill(self, spec: KernelSpec, args: list[KernelArgument]) -> int:
        """Pack ``args`` (as ``packed_arguments``) into the buffer; the address of ``extra``."""
        layout, values = _layout(spec, args)
        if layout.size > PARAMETER_BYTES:
            raise ValueError(f"{layout.size} bytes of kernel parameters, more than the driver's {PARAMETER_BYTES}")
        layout.pack_into(self.parameters, 0, *values)
        self.size.value = layout.size
        return self.extra_address


_buffer = _LaunchBuffer()


@functools.cache
def _kernel(source: KernelSource, spec: KernelSpec, name: str, device_index: int) -> Any:
    """The compiled kernel as CuPy's ``Function`` on this device (compiled and loaded once)."""
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=source(spec), options=("--std=c++17",)).get_function(name).kernel


def launch(spec: KernelSpec, name: str, n: int, device: torch.device, args: list[KernelArgument],
           source: KernelSource = kernel_source) -> None:  # fmt: skip
    """Run kernel ``name`` of ``source(spec)`` with ``n`` threads (one per neuron, or per chunk and
    neuron) on ``device``'s current torch stream; ``args`` as ``argument_codes`` takes them
    (tensors on ``device``, contiguous). The compiled kernel is looked up, not made."""
    import cupy

    index = device.index if device.index is not None else torch.cuda.current_device()
    kernel = _kernel(source, spec, name, index)
    extra = _buffer.fill(spec, args)
    stream = torch._C._cuda_getCurrentRawStream(index)  # torch.cuda.current_stream(device).cuda_stream, 5 us faster
    with cupy.cuda.Device(index):  # its context current; the driver copies the parameters before it returns
        cupy.cuda.driver.launchKernel(kernel.ptr, (n + THREADS - 1) // THREADS, 1, 1, THREADS, 1, 1, 0, stream, 0,
                                      extra)  # fmt: skip
