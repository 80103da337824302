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
import re
import struct
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .source import THREADS, KernelSpec, kernel_source

KernelArgument = Tensor | int | float | None
PARAMETER_BYTES = 4096  # the driver's limit on a kernel's parameters
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


def kernel_parameters(source: str, name: str) -> list[tuple[str, str]]:
    """Kernel ``name``'s parameters in ``source`` as (C type, name), e.g. ``('const io_t*', 'x')``."""
    match = re.search(rf'extern "C" __global__ void {name}\((.*?)\)\s*{{', source, re.S)
    if match is None:
        raise ValueError(f"no kernel {name} in the source")
    params = [p.strip() for p in re.sub(r"//[^\n]*", "", match.group(1)).split(",")]
    types = [re.sub(r"\b__restrict__\b|\s+\w+$", "", p).strip() for p in params]
    return [(re.sub(r"\s*\*", "*", re.sub(r"\s+", " ", t)), p.split()[-1]) for t, p in zip(types, params, strict=True)]


@functools.cache
def parameter_layout(source: KernelSource, spec: KernelSpec, name: str) -> struct.Struct:
    """Kernel ``name``'s parameter list as the C struct the driver reads (each value at its natural
    alignment): a pointer as ``Q``, ``long long`` as ``q``, ``int`` as ``i``, ``acc_t`` as ``f`` (``d``
    for double). Read from the source once per kernel."""
    scalars = {"long long": "q", "int": "i", "acc_t": "d" if spec.acc == "double" else "f"}
    types = [c_type.removeprefix("const ") for c_type, _ in kernel_parameters(source(spec), name)]
    layout = struct.Struct("@" + "".join("Q" if t.endswith("*") else scalars[t] for t in types))
    if layout.size > PARAMETER_BYTES:
        raise ValueError(f"{layout.size} bytes of kernel parameters, more than the driver's {PARAMETER_BYTES}")
    return layout


def _values(args: list[KernelArgument]) -> list[int | float]:
    """The values to pack: a tensor as its pointer, ``None`` as a null pointer."""
    return [a.data_ptr() if isinstance(a, Tensor) else 0 if a is None else a for a in args]


def packed_arguments(spec: KernelSpec, name: str, args: list[KernelArgument],
                     source: KernelSource = kernel_source) -> bytes:  # fmt: skip
    """Kernel ``name``'s parameters as it reads them: one buffer laid out as its parameter list."""
    return parameter_layout(source, spec, name).pack(*_values(args))


_BUFFER_POINTER, _BUFFER_SIZE, _END = 1, 2, 0  # cuLaunchKernel's ``extra`` keys (CU_LAUNCH_PARAM_*)


class _LaunchBuffer(threading.local):
    """Each thread's parameter buffer and ``extra`` array for ``cuLaunchKernel``, made once and
    refilled at each launch (the driver copies the parameters before the launch returns)."""

    def __init__(self) -> None:
        self.parameters = ctypes.create_string_buffer(PARAMETER_BYTES)
        self.size = ctypes.c_size_t(0)
        self.extra = (ctypes.c_void_p * 5)(_BUFFER_POINTER, ctypes.addressof(self.parameters), _BUFFER_SIZE,
                                           ctypes.addressof(self.size), _END)  # fmt: skip
        self.extra_address = ctypes.addressof(self.extra)

    def fill(self, layout: struct.Struct, args: list[KernelArgument]) -> int:
        """Pack ``args`` into the buffer as ``layout`` (``parameter_layout``); the address of ``extra``."""
        layout.pack_into(self.parameters, 0, *_values(args))
        self.size.value = layout.size
        return self.extra_address


_buffer = _LaunchBuffer()


_MAX_DYNAMIC_SHARED_BYTES = 8  # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES


@functools.cache
def _kernel(source: KernelSource, spec: KernelSpec, name: str, device_index: int, shared_bytes: int) -> Any:
    """The compiled kernel as CuPy's ``Function`` on this device (compiled and loaded once), allowed
    ``shared_bytes`` of dynamic shared memory (past the 48 KiB a launch may give without asking)."""
    import cupy

    with cupy.cuda.Device(device_index):
        kernel = cupy.RawModule(code=source(spec), options=("--std=c++17",)).get_function(name).kernel
        if shared_bytes:
            cupy.cuda.driver.funcSetAttribute(kernel.ptr, _MAX_DYNAMIC_SHARED_BYTES, shared_bytes)
        return kernel


def launch(spec: KernelSpec, name: str, n: int, device: torch.device, args: list[KernelArgument],
           source: KernelSource = kernel_source, shared_bytes: int = 0) -> None:  # fmt: skip
    """Run kernel ``name`` of ``source(spec)`` with ``n`` threads (one per neuron, or per chunk and
    neuron) on ``device``'s current torch stream; ``args`` in the order of its parameters (tensors on
    ``device``, contiguous; ``None`` for a null pointer; numbers for its scalars); ``shared_bytes`` of
    dynamic shared memory a block. The compiled kernel and its parameter layout are looked up, not made."""
    import cupy

    index = device.index if device.index is not None else torch.cuda.current_device()
    kernel = _kernel(source, spec, name, index, shared_bytes)
    extra = _buffer.fill(parameter_layout(source, spec, name), args)
    stream = torch._C._cuda_getCurrentRawStream(index)  # torch.cuda.current_stream(device).cuda_stream, 5 us faster
    with cupy.cuda.Device(index):  # its context current; the driver copies the parameters before it returns
        cupy.cuda.driver.launchKernel(kernel.ptr, (n + THREADS - 1) // THREADS, 1, 1, THREADS, 1, 1, shared_bytes,
                                      stream, 0, extra)  # fmt: skip
