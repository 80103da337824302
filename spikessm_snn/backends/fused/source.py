"""CUDA C source of the fused multi-step kernels: one template for the whole neuron family.

Forward, one thread per neuron, ``x [T, N]`` row-major so each time step is one coalesced
row; the next ``FORWARD_CHUNK`` steps of input are loaded into registers while the current
ones are computed, so many loads are in flight per thread (the backward does the same).
The arithmetic is the reference's, operation for operation with explicit rounding
(``__fmul_rn`` ...: no fused multiply-add), so float32 spikes are equal to the ``'torch'``
loop's bit for bit. Backward runs the BPTT recurrence of ``pmbc.py`` per neuron from
``T-1`` down to 0, reading the saved charged potentials ``h`` (and ``r``). The surrogate
derivative is rendered from the same definition the Python surrogate uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...neurons.surrogate import Surrogate

FORWARD_CHUNK = 32  # float32 steps of input in registers per thread, double-buffered
BACKWARD_CHUNK = 16  # the backward holds up to five streams per step; halved for float64
BACKWARD_PREFETCH = False  # measured no faster on the H100 (analysis/profile_fused.py)
_C_TYPES = {"float16": "__half", "bfloat16": "__nv_bfloat16", "float32": "float", "float64": "double"}
_TO_ACC = {"__half": "__half2float", "__nv_bfloat16": "__bfloat162float"}
_FROM_FLOAT = {"__half": "__float2half_rn", "__nv_bfloat16": "__float2bfloat16_rn"}


class CudaExpr:
    """A C expression that composes like a tensor, to render surrogate derivatives."""

    def __init__(self, code: str, acc: str) -> None:
        self.code, self.acc = code, acc

    def _lift(self, other: object) -> str:
        if isinstance(other, CudaExpr):
            return other.code
        literal = repr(float(other))
        return f"{literal}f" if self.acc == "float" else literal

    def _op(self, op: str, other: object, reverse: bool = False) -> CudaExpr:
        left, right = (self._lift(other), self.code) if reverse else (self.code, self._lift(other))
        return CudaExpr(f"({left} {op} {right})", self.acc)

    def __add__(self, o: object) -> CudaExpr:
        return self._op("+", o)

    def __radd__(self, o: object) -> CudaExpr:
        return self._op("+", o, True)

    def __sub__(self, o: object) -> CudaExpr:
        return self._op("-", o)

    def __rsub__(self, o: object) -> CudaExpr:
        return self._op("-", o, True)

    def __mul__(self, o: object) -> CudaExpr:
        return self._op("*", o)

    def __rmul__(self, o: object) -> CudaExpr:
        return self._op("*", o, True)

    def __truediv__(self, o: object) -> CudaExpr:
        return self._op("/", o)

    def __rtruediv__(self, o: object) -> CudaExpr:
        return self._op("/", o, True)

    def __lt__(self, o: object) -> CudaExpr:
        return self._op("<", o)


class CudaMath:
    """The math namespace of ``Surrogate.derivative`` rendered as C for accumulator ``acc``."""

    def __init__(self, acc: str) -> None:
        self.acc, self._f = acc, "f" if acc == "float" else ""

    def abs(self, z: CudaExpr) -> CudaExpr:
        return CudaExpr(f"fabs{self._f}({z.code})", self.acc)

    def exp(self, z: CudaExpr) -> CudaExpr:
        return CudaExpr(f"exp{self._f}({z.code})", self.acc)

    def relu(self, z: CudaExpr) -> CudaExpr:
        return CudaExpr(f"fmax{self._f}(({self.acc})0, {z.code})", self.acc)

    def sigmoid(self, z: CudaExpr) -> CudaExpr:
        return CudaExpr(f"(({self.acc})1 / (({self.acc})1 + exp{self._f}(-({z.code}))))", self.acc)

    def indicator(self, condition: CudaExpr) -> CudaExpr:
        return CudaExpr(f"(({self.acc})({condition.code}))", self.acc)


@dataclass(frozen=True)
class KernelSpec:
    """Everything that changes the generated source (the compile cache key)."""

    dtype: str  # input/output dtype name: float16, bfloat16, float32, float64
    surrogate: Surrogate
    hard_reset: bool
    refractory: bool  # False: r stays 0 (ResetLIF), its loads and stores are skipped
    detach_reset: bool
    forward_chunk: int = FORWARD_CHUNK
    backward_chunk: int = BACKWARD_CHUNK
    backward_prefetch: bool = BACKWARD_PREFETCH

    @property
    def acc(self) -> str:
        return "double" if self.dtype == "float64" else "float"


def _prelude(spec: KernelSpec) -> str:
    t, acc = _C_TYPES[spec.dtype], spec.acc
    width = 2 if acc == "double" else 1  # doubles take two registers
    sfx = "d" if acc == "double" else "f"
    load = f"{_TO_ACC[t]}(p)" if t in _TO_ACC else "(p)"
    store = f"{_FROM_FLOAT[t]}(v)" if t in _FROM_FLOAT else f"({t})(v)"
    derivative = spec.surrogate.derivative(CudaExpr("z", acc), CudaMath(acc)).code
    header = {"__half": "#include <cuda_fp16.h>", "__nv_bfloat16": "#include <cuda_bf16.h>"}.get(t, "")
    return f"""
{header}
typedef {t} io_t;
typedef {acc} acc_t;
#define CHUNK {max(1, spec.forward_chunk // width)}
#define BCHUNK {max(1, spec.backward_chunk // width)}
#define BACKWARD_PREFETCH {int(spec.backward_prefetch)}
#define HARD_RESET {int(spec.hard_reset)}
#define REFRACTORY {int(spec.refractory)}
#define RESET_GRAD {0 if spec.detach_reset else 1}
#define IO_MAX {torch.finfo(getattr(torch, spec.dtype)).max!r}{"f" if acc == "float" else ""}
__device__ __forceinline__ acc_t load_io(io_t p) {{ return {load}; }}
__device__ __forceinline__ io_t store_io(acc_t v) {{ return {store}; }}
__device__ __forceinline__ acc_t mul(acc_t a, acc_t b) {{ return __{sfx}mul_rn(a, b); }}
__device__ __forceinline__ acc_t add(acc_t a, acc_t b) {{ return __{sfx}add_rn(a, b); }}
__device__ __forceinline__ acc_t sub(acc_t a, acc_t b) {{ return __{sfx}sub_rn(a, b); }}
__device__ __forceinline__ acc_t surrogate_derivative(acc_t z) {{ return {derivative}; }}
"""


_FORWARD = r"""
// h = tau v + x;  z = (h - u) - r;  s = z >= 0;  v = reset(h, s);  r = tau_r r + c s
extern "C" __global__ void neuron_forward(
    const io_t* __restrict__ x, io_t* __restrict__ spikes, acc_t* __restrict__ h_seq, acc_t* __restrict__ r_seq,
    const acc_t* __restrict__ tau, const acc_t* __restrict__ threshold, const acc_t* __restrict__ tau_r,
    const acc_t* __restrict__ refractory, acc_t* __restrict__ v_state, acc_t* __restrict__ r_state,
    const long long steps, const long long n, const acc_t v_reset, const int save, int* __restrict__ non_finite) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  bool finite = true, bounded = true;  // the input is finite; the state fits the input's dtype
  const acc_t a = tau[i], u = threshold[i], ar = tau_r[i], c = refractory[i];
  acc_t v = v_state[i], r = r_state[i];
  acc_t next[CHUNK];
#pragma unroll
  for (int k = 0; k < CHUNK; ++k) next[k] = k < steps ? load_io(x[k * n + i]) : (acc_t)0;
  for (long long t0 = 0; t0 < steps; t0 += CHUNK) {
    acc_t cur[CHUNK];
#pragma unroll
    for (int k = 0; k < CHUNK; ++k) {
      cur[k] = next[k];
      const long long t = t0 + CHUNK + k;
      next[k] = t < steps ? load_io(x[t * n + i]) : (acc_t)0;  // prefetch the next chunk
    }
#pragma unroll
    for (int k = 0; k < CHUNK; ++k) {
      const long long t = t0 + k;
      if (t < steps) {
        finite &= isfinite(cur[k]);
        const acc_t h = add(mul(a, v), cur[k]);
        bounded &= fabs(h) <= IO_MAX;  // |v| <= |h| (soft) or v = v_reset (hard); false for NaN
        const bool s = sub(sub(h, u), r) >= (acc_t)0;
        spikes[t * n + i] = store_io(s ? (acc_t)1 : (acc_t)0);
        if (save) h_seq[t * n + i] = h;
#if HARD_RESET
        v = s ? v_reset : h;
#else
        v = s ? sub(h, u) : h;
#endif
#if REFRACTORY
        r = add(mul(ar, r), s ? c : (acc_t)0);
        bounded &= fabs(r) <= IO_MAX;
        if (save) r_seq[t * n + i] = r;
#endif
      }
    }
  }
  v_state[i] = v;
  r_state[i] = r;
  if (!finite || !bounded) atomicOr(non_finite, (finite ? 0 : 1) | (bounded ? 0 : 2));
}
"""

_BACKWARD = r"""
// BPTT per neuron, t = T-1 .. 0; lam_h1 = dL/dh[t+1], lam_r1 = dL/dr[t] from later steps.
struct Step { acc_t gs, h, rp, gh, gr; };

__device__ __forceinline__ Step load_step(
    const long long t, const long long n, const long long i, const io_t* g_spikes, const acc_t* g_h,
    const acc_t* g_r, const acc_t* h_seq, const acc_t* r_seq, const acc_t r0, const int has_g_h, const int has_g_r) {
  Step q = {(acc_t)0, (acc_t)0, (acc_t)0, (acc_t)0, (acc_t)0};
  if (t < 0) return q;
  q.gs = load_io(g_spikes[t * n + i]);
  q.h = h_seq[t * n + i];
  if (has_g_h) q.gh = g_h[t * n + i];
#if REFRACTORY
  q.rp = t > 0 ? r_seq[(t - 1) * n + i] : r0;
  if (has_g_r) q.gr = g_r[t * n + i];
#endif
  return q;
}

extern "C" __global__ void neuron_backward(
    const io_t* __restrict__ g_spikes, const acc_t* __restrict__ g_h, const acc_t* __restrict__ g_r,
    const acc_t* __restrict__ h_seq, const acc_t* __restrict__ r_seq,
    const acc_t* __restrict__ tau, const acc_t* __restrict__ threshold, const acc_t* __restrict__ tau_r,
    const acc_t* __restrict__ refractory, const acc_t* __restrict__ r0,
    const acc_t* __restrict__ g_v_last, const acc_t* __restrict__ g_r_last,  // dL/d(final state) [n]
    io_t* __restrict__ g_x, acc_t* __restrict__ g_params,  // [6, n]: tau, threshold, tau_r, refractory, v0, r0
    const long long steps, const long long n, const acc_t v_reset, const int has_g_h, const int has_g_r) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const acc_t a = tau[i], u = threshold[i], ar = tau_r[i], c = refractory[i], r_init = r0[i];
  acc_t lam_h1 = 0, lam_r1 = g_r_last[i], g_a = 0, g_u = 0, g_ar = 0, g_c = 0;
  const acc_t lam_v_last = g_v_last[i];
#define LOAD(t) load_step(t, n, i, g_spikes, g_h, g_r, h_seq, r_seq, r_init, has_g_h, has_g_r)
#if BACKWARD_PREFETCH
  Step next[BCHUNK];
#pragma unroll
  for (int k = 0; k < BCHUNK; ++k) next[k] = LOAD(steps - 1 - k);
#endif
  for (long long t1 = steps - 1; t1 >= 0; t1 -= BCHUNK) {
    Step cur[BCHUNK];
#pragma unroll
    for (int k = 0; k < BCHUNK; ++k) {
#if BACKWARD_PREFETCH  // load the chunk before this one while this one is computed
      cur[k] = next[k];
      next[k] = LOAD(t1 - BCHUNK - k);
#else
      cur[k] = LOAD(t1 - k);
#endif
    }
#pragma unroll
    for (int k = 0; k < BCHUNK; ++k) {
      const long long t = t1 - k;
      if (t >= 0) {
        const Step q = cur[k];
        const acc_t z = sub(sub(q.h, u), q.rp);
        const bool s = z >= (acc_t)0;
        const acc_t sf = s ? (acc_t)1 : (acc_t)0;
#if HARD_RESET
        const acc_t v = s ? v_reset : q.h, dv_ds = v_reset - q.h, dv_dh = (acc_t)1 - sf;
#else
        const acc_t v = s ? sub(q.h, u) : q.h, dv_ds = -u, dv_dh = (acc_t)1;
#endif
        const acc_t lam_v = a * lam_h1 + (t == steps - 1 ? lam_v_last : (acc_t)0);
        const acc_t lam_r = q.gr + lam_r1;
        const acc_t lam_s = q.gs + RESET_GRAD * (dv_ds * lam_v + c * lam_r);
        const acc_t lam_z = surrogate_derivative(z) * lam_s;
        const acc_t lam_h = q.gh + lam_z + dv_dh * lam_v;
        g_x[t * n + i] = store_io(lam_h);
        g_a += lam_h1 * v;
#if HARD_RESET
        g_u -= lam_z;
#else
        g_u -= lam_z + sf * lam_v;
#endif
        g_ar += lam_r * q.rp;
        g_c += lam_r * sf;
        lam_h1 = lam_h;
        lam_r1 = ar * lam_r - lam_z;
      }
    }
  }
  g_params[i] = g_a;
  g_params[n + i] = g_u;
  g_params[2 * n + i] = g_ar;
  g_params[3 * n + i] = g_c;
  g_params[4 * n + i] = a * lam_h1;
  g_params[5 * n + i] = lam_r1;
}
"""


def kernel_source(spec: KernelSpec) -> str:
    """The full CUDA source (forward and backward) for one ``KernelSpec``."""
    return _prelude(spec) + _FORWARD + _BACKWARD
