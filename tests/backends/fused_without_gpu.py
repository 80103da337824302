"""The fused CUDA kernels checked without a GPU: run on the CPU as C++, and compiled by NVRTC.

``KernelsOnCpu.launch`` stands in for ``fused.launch.launch``: it compiles the kernel source
with g++ behind a small prelude that defines the CUDA built-ins for the host (float16 as GCC's
``_Float16``, bfloat16 as 16 bits rounded to nearest even; IEEE arithmetic without contraction,
as the kernels' ``__fmul_rn`` ... ask of the GPU), checks every argument against the kernel's
C signature (count, size, pointee dtype, contiguity), fills the outputs with NaN (as fresh GPU
memory can hold anything: what a kernel must write, or never read), packs the arguments with the
launcher's own ``packed_arguments`` and calls the kernel once per thread of the grid through a
wrapper that reads that buffer as a struct of the kernel's parameter list (the layout the driver
reads it in).

``surrogate_on_cpu`` compiles the kernels' surrogate derivatives the same way, to be evaluated
on a grid. ``compile_for_gpu`` compiles a source with NVRTC for ``sm_90`` (ptxas log included) and
``ptx_for_gpu`` gives its PTX, both with CuPy's options (``-ftz=true`` included), where the
NVRTC library and the CUDA headers are installed (``scripts/setup.sh`` puts the ``nvidia-cuda-nvrtc-cu12``
and ``nvidia-cuda-runtime-cu12`` wheels in ``.deps/cuda-nvrtc``; or a CUDA toolkit).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikessm_snn.backends.fused.autograd import is_time_last
from spikessm_snn.backends.fused.launch import (
    THREADS,
    KernelArgument,
    KernelSource,
    kernel_parameters,
    packed_arguments,
)
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source, surrogate_source
from spikessm_snn.neurons.surrogate import Surrogate

_HOST_PRELUDE = r"""
#include <cmath>
#include <cstdint>
#include <cstring>
using std::exp; using std::fabs; using std::fmax; using std::isfinite;
struct dim3 { unsigned x; };
static dim3 blockIdx, blockDim, threadIdx;
extern "C" void set_thread(unsigned block, unsigned thread, unsigned threads) {
  blockIdx.x = block; threadIdx.x = thread; blockDim.x = threads;
}
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static  // one thread at a time: each lane reads and writes its own column only
#define __align__(n) __attribute__((aligned(n)))
inline void __syncwarp() {}
inline int atomicOr(int* address, int value) { const int old = *address; *address = old | value; return old; }
inline int atomicMin(int* address, int value) {
  const int old = *address;
  *address = old < value ? old : value;
  return old;
}
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
"""

_HOST_HEADERS = {
    "cuda_fp16.h": r"""
typedef _Float16 __half;
inline float __half2float(__half h) { return (float)h; }
inline __half __float2half_rn(float f) { return (__half)f; }
""",
    "cuda_bf16.h": r"""
struct __nv_bfloat16 { uint16_t bits; };
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = (uint32_t)h.bits << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {(uint16_t)((u >> 16) | 0x40u)};  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return {(uint16_t)(u >> 16)};
}
""",
}

_TORCH_DTYPES = {name: getattr(torch, name) for name in ("float16", "bfloat16", "float32", "float64")}


OUTPUTS = ("spikes", "h_seq", "r_seq", "checkpoints", "final_state", "g_x", "g_params")  # written before read


def check_arguments(spec: KernelSpec, name: str, args: list[KernelArgument],
                    source: KernelSource = kernel_source) -> None:  # fmt: skip
    """Each argument fits its C parameter: count, pointee dtype, contiguity, a whole number for an
    integer and a real one for ``acc_t``."""
    params = kernel_parameters(source(spec), name)
    assert len(params) == len(args), f"{name}: {len(args)} arguments for {len(params)} parameters {params}"
    acc = torch.float64 if spec.acc == "double" else torch.float32
    pointee = {"io_t": _TORCH_DTYPES[spec.dtype], "acc_t": acc, "int": torch.int32}
    for (param, label), arg in zip(params, args, strict=True):
        where = f"{name} argument {label} ({param})"
        if param.endswith("*"):
            assert arg is None or isinstance(arg, torch.Tensor), f"{where}: got {type(arg).__name__}"
            if arg is not None:
                expected = pointee[param.removeprefix("const ").removesuffix("*")]
                assert arg.dtype == expected, f"{where}: tensor of {arg.dtype}, expected {expected}"
                assert arg.is_contiguous() or (spec.time_last and is_time_last(arg)), f"{where}: not contiguous"
        else:
            expected = float if param.removeprefix("const ") == "acc_t" else int
            assert type(arg) is expected, f"{where}: got {type(arg).__name__}, expected {expected.__name__}"


class KernelsOnCpu:
    """``launch`` for CPU tensors: the kernels compiled with g++ into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for header, text in _HOST_HEADERS.items():
            (directory / header).write_text(text)
        self.libraries: dict[tuple[KernelSource, KernelSpec], ctypes.CDLL] = {}
        self.calls: list[tuple[KernelSpec, str, list[KernelArgument]]] = []  # every launch, in order

    def library(self, spec: KernelSpec, source: KernelSource = kernel_source) -> ctypes.CDLL:
        if (source, spec) not in self.libraries:
            path = self.directory / f"kernels{len(self.libraries)}.cpp"
            path.write_text(_HOST_PRELUDE + source(spec) + _packed_wrappers(source(spec)))
            self.libraries[source, spec] = _compile_for_host(path, [f"-I{self.directory}"])
        return self.libraries[source, spec]

    def launch(self, spec: KernelSpec, name: str, n: int, device: torch.device, args: list[KernelArgument],
               source: KernelSource = kernel_source, shared_bytes: int = 0) -> None:  # fmt: skip
        assert device.type == "cpu" and all(a.device == device for a in args if isinstance(a, torch.Tensor))
        ring = spec.backward_ring_bytes if source is kernel_source and name == "neuron_backward" else 0
        assert shared_bytes == ring, f"{name}: {shared_bytes} bytes of dynamic shared memory, its ring takes {ring}"
        check_arguments(spec, name, args, source)
        self.calls.append((spec, name, args))
        for (param, label), arg in zip(kernel_parameters(source(spec), name), args, strict=True):
            if label in OUTPUTS and not param.startswith("const") and arg is not None:
                arg.fill_(float("nan"))
        library = self.library(spec, source)
        kernel = getattr(library, f"packed_{name}")
        kernel.restype = None
        packed = ctypes.create_string_buffer(packed_arguments(spec, name, args, source))
        blocks = (n + THREADS - 1) // THREADS
        for block in range(blocks):
            for thread in range(THREADS):
                library.set_thread(block, thread, THREADS)
                kernel(packed)


def _packed_wrappers(source: str) -> str:
    """For every kernel of ``source``, ``packed_<name>(const char* buffer)``: reads the buffer as a
    struct of the kernel's parameters, in order (C's layout: each at its natural alignment), and
    calls the kernel with them."""
    wrappers = []
    for name in re.findall(r'extern "C" __global__ void (\w+)\(', source):
        params = kernel_parameters(source, name)
        fields = "".join(f"  {ctype} {label};\n" for ctype, label in params)
        call = ", ".join(f"p->{label}" for _, label in params)
        body = f"  const {name}_parameters* p = (const {name}_parameters*)buffer;\n  {name}({call});\n"
        wrappers.append(f"struct {name}_parameters {{\n{fields}}};\n"
                        f'extern "C" void packed_{name}(const char* buffer) {{\n{body}}}\n')  # fmt: skip
    return "\n" + "\n".join(wrappers)


def _compile_for_host(source: Path, flags: list[str]) -> ctypes.CDLL:
    flags = ["-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-w", *flags]
    done = subprocess.run(["g++", *flags, str(source), "-o", str(source.with_suffix(".so"))],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return ctypes.CDLL(str(source.with_suffix(".so")))


def surrogate_on_cpu(directory: Path, surrogate: Surrogate, dtype: torch.dtype):
    """The kernels' ``surrogate_derivative`` for ``acc_t = dtype`` (float32/float64), as a function
    of a CPU tensor ``z``."""
    c_type = {torch.float32: "float", torch.float64: "double"}[dtype]
    source = directory / f"surrogate_{surrogate.name}_{surrogate.alpha}_{c_type}.cpp"
    source.write_text(
        _HOST_PRELUDE
        + f"typedef {c_type} acc_t;\n"
        + surrogate_source(surrogate)
        + """
extern "C" void evaluate(const acc_t* z, acc_t* out, long long n) {
  for (long long i = 0; i < n; ++i) out[i] = surrogate_derivative(z[i]);
}
"""
    )
    evaluate = _compile_for_host(source, []).evaluate

    def derivative(z: torch.Tensor) -> torch.Tensor:
        z = z.to(dtype).contiguous()
        out = torch.empty_like(z)
        evaluate(ctypes.c_void_p(z.data_ptr()), ctypes.c_void_p(out.data_ptr()), ctypes.c_longlong(z.numel()))
        return out

    return derivative


def host_compiler_missing() -> str | None:
    """Why the kernels cannot be compiled for the host here, or ``None``."""
    if sys.platform != "linux" or shutil.which("g++") is None:
        return "needs g++ on Linux"
    return None


def _nvidia_paths(pattern: str) -> list[str]:
    roots = [os.environ.get("CUDA_PATH", ""), os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]
    roots.append(str(Path(__file__).resolve().parents[2] / ".deps" / "cuda-nvrtc" / "nvidia"))  # scripts/setup.sh's
    roots += [str(Path(p) / "nvidia") for p in sys.path if p]
    return [hit for root in roots if root for hit in sorted(glob.glob(str(Path(root) / pattern), recursive=True))]


@functools.cache
def _nvrtc() -> tuple[ctypes.CDLL, list[str]] | None:
    """The NVRTC library and the include directories holding ``cuda_fp16.h`` (its own first), or ``None``."""
    libraries = [p for p in _nvidia_paths("**/libnvrtc.so*") if "builtins" not in p and ".alt." not in p]
    found = ctypes.util.find_library("nvrtc")
    includes = sorted({str(Path(p).parent) for p in _nvidia_paths("**/include/cuda_fp16.h")})
    for candidate in [*libraries, *([found] if found else [])]:
        try:
            library = ctypes.CDLL(candidate)
        except OSError:
            continue
        own = str(Path(candidate).parent.parent / "include")
        return library, sorted(includes, key=lambda d: d != own)
    return None


def nvrtc_missing() -> str | None:
    """Why ``compile_for_gpu`` cannot run here, or ``None``."""
    found = _nvrtc()
    if found is None:
        return "needs the NVRTC library (scripts/setup.sh installs it in .deps/cuda-nvrtc, or a CUDA toolkit)"
    if not found[1]:
        return "needs the CUDA headers (pip install nvidia-cuda-runtime-cu12, or a CUDA toolkit)"
    return None


def _skip_without_nvrtc() -> None:
    reason = nvrtc_missing()
    if reason is not None:
        pytest.skip(reason)


CUPY_OPTIONS = ["--std=c++17", "-ftz=true"]  # the kernels' options, and the one CuPy adds after them


def _nvrtc_compile(source: str, arch: str, extra: list[str]) -> tuple[bool, str, str]:
    """NVRTC-compile ``source`` as CuPy does (``CUPY_OPTIONS``) to ``arch``: success, the log, and the PTX
    (for a ``compute_*`` arch; empty for ``sm_*``)."""
    found = _nvrtc()
    assert found is not None
    nvrtc, includes = found
    program = ctypes.c_void_p()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"kernels.cu", 0, None, None) == 0
    options = [*CUPY_OPTIONS, f"-arch={arch}", *extra, *(f"-I{d}" for d in includes)]
    encoded = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
    status = nvrtc.nvrtcCompileProgram(program, len(options), encoded)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(program, log)
    ptx = ""
    if status == 0 and arch.startswith("compute_"):
        nvrtc.nvrtcGetPTXSize(program, ctypes.byref(size))
        text = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetPTX(program, text)
        ptx = text.value.decode()
    nvrtc.nvrtcDestroyProgram(ctypes.byref(program))
    return status == 0, log.value.decode(errors="replace"), ptx


def compile_for_gpu(source: str, arch: str = "sm_90") -> tuple[bool, str]:
    """NVRTC-compile ``source`` (as CuPy would) to ``arch``: success and the log (ptxas's included)."""
    compiled, log, _ = _nvrtc_compile(source, arch, ["--ptxas-options=-v"])
    return compiled, log


def ptx_for_gpu(source: str) -> str:
    """The PTX NVRTC makes of ``source`` (as CuPy would) for Hopper; skips without NVRTC."""
    _skip_without_nvrtc()
    compiled, log, ptx = _nvrtc_compile(source, "compute_90", [])
    assert compiled, log
    return ptx


def assert_compiles_for_gpu_without_spills(source: str, kernels: int) -> None:
    """``source`` compiles for Hopper and none of its ``kernels`` spills registers (skips without NVRTC)."""
    _skip_without_nvrtc()
    compiled, log = compile_for_gpu(source)
    assert compiled, log
    spills = re.findall(r"(\d+) bytes spill stores", log)
    assert len(spills) == kernels and all(int(s) == 0 for s in spills), log
