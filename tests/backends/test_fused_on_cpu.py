"""The fused CUDA kernels' arithmetic checked on a CPU: their generated source compiled as C++.

The source of ``'cupy'`` (``fused/source.py``) is plain C++ apart from a few CUDA names: thin
definitions here (``__global__`` empty, ``blockIdx`` a global set per thread, ``__fmul_rn`` a
multiplication, ``atomicOr`` a plain or) let g++ compile it unchanged (float32 and float64; the
half types need CUDA's headers), with a loop over the threads for each kernel. The launcher is
replaced by one that calls that loop with the same arguments, so ``run_fused`` itself (host code,
autograd, kernels) runs on CPU tensors and is compared with the ``'torch'`` loop: spikes bit for
bit, states and gradients to rounding. Without g++ these tests are skipped; the GPU tests in
``test_fused.py`` run the same source under nvcc.
"""

from __future__ import annotations

import ctypes
import functools
import re
import shutil
import subprocess
from collections.abc import Callable

import numpy as np
import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.fused import autograd
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source
from spikessm_snn.backends.reference import run_reference
from spikessm_snn.neurons.dynamics import NeuronState

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

_CUDA_ON_CPU = """
#include <cmath>
using std::fabs;
using std::isfinite;
#define __global__
#define __device__
#define __forceinline__ inline
struct Index { long long x; };
static Index blockIdx = {0}, blockDim = {1}, threadIdx = {0};
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline int atomicOr(int* address, int value) { const int old = *address; *address |= value; return old; }
"""
_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\((.*?)\)\s*\{', re.DOTALL)


def _thread_loops(source: str) -> str:
    """For each kernel ``k(params)``, ``cpu_k(params)`` running it once per thread ``0 .. n-1``."""
    loops = []
    for name, params in _KERNEL.findall(source):
        params = re.sub(r"//[^\n]*", "", params)
        names = ", ".join(re.search(r"(\w+)\s*$", p.strip()).group(1) for p in params.split(","))
        body = f"for (long long t = 0; t < n; ++t) {{ blockIdx.x = t; {name}({names}); }}"
        loops.append(f'extern "C" void cpu_{name}({params}) {{ {body} }}')
    return "\n".join(loops)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Callable[[KernelSpec], ctypes.CDLL]:
    """``compiled(spec)``: the kernels of ``spec`` with their thread loops, built once a module."""
    folder = tmp_path_factory.mktemp("fused_cpu")

    @functools.cache
    def build(spec: KernelSpec) -> ctypes.CDLL:
        source = kernel_source(spec)
        cpp = folder / f"kernels{len(list(folder.iterdir()))}.cpp"
        cpp.write_text(_CUDA_ON_CPU + source + "\n" + _thread_loops(source))
        library = cpp.with_suffix(".so")
        command = ["g++", "-std=c++17", "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-Wno-unknown-pragmas",
                   str(cpp), "-o", str(library)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return ctypes.CDLL(str(library))

    return build


@pytest.fixture
def fused_on_cpu(monkeypatch, compiled):
    """``run_fused`` with ``fused.launch.launch`` replaced by a call of the compiled thread loop
    (the same argument conventions: tensors as pointers, ``np.int32`` as int, ints as long long,
    floats in the accumulator type)."""

    def launch_on_cpu(spec: KernelSpec, name: str, n: int, device: torch.device, args: list) -> None:
        acc = ctypes.c_double if spec.acc == "double" else ctypes.c_float
        kinds = {np.int32: ctypes.c_int, np.int64: ctypes.c_longlong}

        def convert(a):
            if isinstance(a, torch.Tensor):
                assert a.is_contiguous() and a.device.type == "cpu"
                return ctypes.c_void_p(a.data_ptr())
            if isinstance(a, np.generic):
                return kinds[type(a)](int(a))
            return ctypes.c_longlong(a) if isinstance(a, int) else acc(a)

        getattr(compiled(spec), f"cpu_{name}")(*(convert(a) for a in args))

    monkeypatch.setattr(autograd, "launch", launch_on_cpu)
    return autograd.run_fused


NEURONS = {
    "srr": lambda **kw: SRRNeuron(
        tau=0.7, tau_r=0.9, u_th=0.8, v_th=0.3, learn_tau=True, learn_tau_r=True, learn_u_th=True, learn_v_th=True, **kw
    ),
    "lif_hard": lambda **kw: ResetLIFNeuron(tau=0.5, v_threshold=0.7, v_reset=-0.2, learn_threshold=True, **kw),
    "lif_soft": lambda **kw: ResetLIFNeuron(tau=0.9, reset="soft", learn_tau=True, **kw),
}
SURROGATES = [("triangle", False), ("triangle", True), ("sigmoid", True), ("atan", False), ("rect", True)]


def _run(runner, name: str, x: torch.Tensor, state: NeuronState, surrogate: str, detach_reset: bool):
    neuron = NEURONS[name](shape=(x.shape[-1],), surrogate=surrogate, detach_reset=detach_reset).to(x.dtype)
    xi = x.clone().requires_grad_()
    v0, r0 = (s.clone().requires_grad_() for s in state)
    result = runner(xi, NeuronState(v0, r0), neuron.parameters_for(xi), neuron.spike_fn, detach_reset, record=True)
    g = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    loss = (result.spikes * g).sum() + 0.3 * (result.v_seq * g.flip(0)).sum() + 0.2 * (result.r_seq * g).sum()
    (loss + result.state.v.sum() + 0.5 * result.state.r.sum()).backward()
    grads = {"x": xi.grad, "v0": v0.grad, "r0": r0.grad, **{k: p.grad for k, p in neuron.named_parameters()}}
    return result, grads


@pytest.mark.parametrize(("surrogate", "detach_reset"), SURROGATES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEURONS)
def test_the_kernels_equal_the_reference(name, dtype, surrogate, detach_reset, randn, fused_on_cpu) -> None:
    x = randn(300, 2, 9, dtype=dtype, scale=1.3, mean=0.3)
    state = NeuronState(randn(2, 9, dtype=dtype, scale=0.5), randn(2, 9, dtype=dtype, scale=0.3).abs())
    ref, g_ref = _run(run_reference, name, x, state, surrogate, detach_reset)
    ours, g_ours = _run(fused_on_cpu, name, x, state, surrogate, detach_reset)
    assert torch.equal(ours.spikes, ref.spikes) and 0 < ref.spikes.mean() < 1
    assert torch.equal(ours.v_seq, ref.v_seq) and torch.equal(ours.r_seq, ref.r_seq)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    for key, value in g_ref.items():
        assert g_ours[key] is not None and value.abs().sum() > 0, key
        assert ((g_ours[key] - value).norm() / value.norm()).item() < tolerance, key


def test_the_kernel_flags_an_overflowing_state_and_non_finite_input(fused_on_cpu) -> None:
    neuron = SRRNeuron(tau=1.0, v_th=0.0)
    x = torch.tensor([2e38, 2e38, -3.4e38, -3.4e38, 0.0, 0.0]).reshape(-1, 1)
    state = NeuronState(torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="state overflowed float32"):
        fused_on_cpu(x, state, neuron.parameters_for(x), neuron.spike_fn)
    x[1] = float("nan")
    with pytest.raises(ValueError, match="x_seq holds NaN or inf"):
        fused_on_cpu(x, state, neuron.parameters_for(x), neuron.spike_fn)
    fused_on_cpu(x, state, neuron.parameters_for(x), neuron.spike_fn, check_finite=False)
