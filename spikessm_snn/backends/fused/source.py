"""CUDA C source of the fused multi-step kernels: one template for the whole neuron family.

Forward, one thread per neuron, ``x [T, N]`` row-major so each time step is one coalesced
row; the next ``FORWARD_CHUNK`` steps of input are loaded into registers while the current
ones are computed, so many loads are in flight per thread. They are held raw and converted
where used (a conversion right after each load would wait for it), and past the last step
the last row is read again rather than branched around. The arithmetic is the reference's,
operation for operation with explicit rounding (``__fmul_rn`` ...: no fused multiply-add), so
float32 spikes are equal to the ``'torch'`` loop's bit for bit. For the backward the
forward saves only the state before every ``BACKWARD_CHUNK``-th step (a checkpoint); the backward
runs the BPTT recurrence per neuron from ``T-1`` down to 0 by segments of ``BACKWARD_CHUNK`` steps,
recomputing each segment's charged potentials ``h`` and traces ``r`` from its checkpoint and ``x``
(the forward's arithmetic: the same bits) while the loads of the segment before are in flight,
and reading only the gradients that exist. The surrogate derivatives are written out below as the
formulas of ``neurons/surrogate.py`` (the source of truth; a test evaluates both on a grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...neurons.surrogate import Surrogate

FORWARD_CHUNK = 32  # steps of input in registers per thread, double-buffered; halved for float64
BACKWARD_CHUNK = 16  # steps a backward segment (between checkpoints; its loads double-buffered); halved for float64
# The backward's ``grads``: which gradients exist (a missing one's pointer may be null), and whether dL/dx is wanted
GRADIENT_BITS = {"g_spikes": 1, "g_h": 2, "g_r": 4, "g_final": 8, "g_x": 32}
_C_TYPES = {"float16": "__half", "bfloat16": "__nv_bfloat16", "float32": "float", "float64": "double"}
_TO_ACC = {"__half": "__half2float", "__nv_bfloat16": "__bfloat162float"}
_FROM_FLOAT = {"__half": "__float2half_rn", "__nv_bfloat16": "__float2bfloat16_rn"}


@dataclass(frozen=True)
class KernelSpec:
    """Everything that changes the generated source (the compile cache key)."""

    dtype: str  # input/output dtype name: float16, bfloat16, float32, float64
    surrogate: Surrogate
    hard_reset: bool
    detach_reset: bool
    forward_chunk: int = FORWARD_CHUNK
    backward_chunk: int = BACKWARD_CHUNK

    def __post_init__(self) -> None:
        if self.forward_chunk % self.backward_chunk:  # the forward writes a checkpoint where a segment starts
            raise ValueError(f"forward_chunk {self.forward_chunk} must be a multiple of backward_chunk "
                             f"{self.backward_chunk}")  # fmt: skip

    @property
    def acc(self) -> str:
        return "double" if self.dtype == "float64" else "float"

    @property
    def segment(self) -> int:
        """The backward's segment (``BCHUNK``): steps between the forward's checkpoints of the state."""
        return max(1, self.backward_chunk // (2 if self.acc == "double" else 1))


_SURROGATES = r"""
// d spike / d z as neurons/surrogate.py defines them, its constants folded as Python folds them
// (in double, then rounded to acc_t as torch rounds a Python scalar); surrogate_derivative is one.
__device__ __forceinline__ acc_t triangle_derivative(acc_t z) {  // relu(1 - |z| / alpha) / alpha
  return fmax((acc_t)0, (acc_t)1 - fabs(z) * (acc_t)INV_ALPHA) * (acc_t)INV_ALPHA;
}
__device__ __forceinline__ acc_t sigmoid_derivative(acc_t z) {  // alpha sg (1 - sg), sg = sigmoid(alpha z)
  const acc_t sg = (acc_t)1 / ((acc_t)1 + exp(-(z * (acc_t)ALPHA)));
  return sg * ((acc_t)1 - sg) * (acc_t)ALPHA;
}
__device__ __forceinline__ acc_t atan_derivative(acc_t z) {  // (alpha / 2) / (1 + (pi / 2 alpha z)^2)
  const acc_t az = z * (acc_t)HALF_PI_ALPHA;
  return ((acc_t)1 / ((acc_t)1 + az * az)) * (acc_t)HALF_ALPHA;
}
__device__ __forceinline__ acc_t rect_derivative(acc_t z) {  // alpha where |z| < 0.5 / alpha, else 0
  return fabs(z) < (acc_t)HALF_INV_ALPHA ? (acc_t)ALPHA : (acc_t)0;
}
"""


def surrogate_source(surrogate: Surrogate) -> str:
    """The four surrogate derivatives in C (over a typedef ``acc_t``), ``surrogate_derivative``
    naming ``surrogate``'s, with its ``alpha``."""
    a = surrogate.alpha
    constants = {"ALPHA": a, "INV_ALPHA": 1.0 / a, "HALF_ALPHA": a / 2.0, "HALF_INV_ALPHA": 0.5 / a,
                 "HALF_PI_ALPHA": math.pi / 2.0 * a}  # fmt: skip
    defines = "".join(f"#define {name} {value!r}\n" for name, value in constants.items())
    return f"{defines}#define surrogate_derivative {surrogate.name}_derivative\n{_SURROGATES}"


def prelude(spec: KernelSpec) -> str:
    """Types, rounding arithmetic, the per-step neuron update and the surrogates for ``spec``:
    what every kernel shares."""
    t, acc = _C_TYPES[spec.dtype], spec.acc
    width = 2 if acc == "double" else 1  # doubles take two registers
    sfx = "d" if acc == "double" else "f"
    load = f"{_TO_ACC[t]}(p)" if t in _TO_ACC else "(p)"
    store = f"{_FROM_FLOAT[t]}(v)" if t in _FROM_FLOAT else f"({t})(v)"
    header = {"__half": "#include <cuda_fp16.h>", "__nv_bfloat16": "#include <cuda_bf16.h>"}.get(t, "")
    has = "".join(f"#define HAS_{name.upper()} (grads & {bit})\n" for name, bit in GRADIENT_BITS.items())
    return f"""
{header}
typedef {t} io_t;
typedef {acc} acc_t;
#define CHUNK {max(1, spec.forward_chunk // width)}
#define BCHUNK {spec.segment}
#define HARD_RESET {int(spec.hard_reset)}
#define RESET_GRAD {0 if spec.detach_reset else 1}
#define IO_MAX {torch.finfo(getattr(torch, spec.dtype)).max!r}{"f" if acc == "float" else ""}
{has}
__device__ __forceinline__ acc_t load_io(io_t p) {{ return {load}; }}
__device__ __forceinline__ io_t store_io(acc_t v) {{ return {store}; }}
__device__ __forceinline__ acc_t mul(acc_t a, acc_t b) {{ return __{sfx}mul_rn(a, b); }}
__device__ __forceinline__ acc_t add(acc_t a, acc_t b) {{ return __{sfx}add_rn(a, b); }}
__device__ __forceinline__ acc_t sub(acc_t a, acc_t b) {{ return __{sfx}sub_rn(a, b); }}
// r stays exactly 0 (its stores and loads are skipped) unless the neuron has a refractory
// magnitude or starts with a trace: decided per neuron on the device, never by the host
__device__ __forceinline__ bool has_trace(acc_t c, acc_t r0, acc_t tau_r) {{
  return c != (acc_t)0 || r0 != (acc_t)0 || !isfinite(tau_r);
}}
// a neuron's initial v or r: given per neuron, or (a null pointer: the zero state) 0
__device__ __forceinline__ acc_t initial(const acc_t* state, const long long i) {{
  return state ? state[i] : (acc_t)0;
}}
// the membrane after reset from the charged potential h and the spike s
__device__ __forceinline__ acc_t reset_value(acc_t h, bool s, acc_t u, acc_t v_reset) {{
  return s ? (HARD_RESET ? v_reset : sub(h, u)) : h;
}}
// one step, the reference's arithmetic operation for operation: h = tau v + x;  z = (h - u) - r;
// s = z >= 0;  v = reset(h, s);  r = tau_r r + c s. Returns s; h, v and r are updated.
__device__ __forceinline__ bool neuron_update(
    acc_t xt, acc_t a, acc_t u, acc_t ar, acc_t c, acc_t v_reset, acc_t& h, acc_t& v, acc_t& r) {{
  h = add(mul(a, v), xt);
  const bool s = sub(sub(h, u), r) >= (acc_t)0;
  v = reset_value(h, s, u, v_reset);
  r = add(mul(ar, r), s ? c : (acc_t)0);
  return s;
}}
{surrogate_source(spec.surrogate)}"""


_FORWARD = r"""
// h = tau v + x;  z = (h - u) - r;  s = z >= 0;  v = reset(h, s);  r = tau_r r + c s, from v0, r0 [n]
// (null: zero) to final_state [2, n] (v, r), constants [4, n] (tau, threshold, tau_r, refractory).
// save: 0 nothing; 1 the state (v, r) before every BCHUNK-th step into checkpoints
// [2, ceil(T / BCHUNK), n] (what the backward recomputes from); 2 that, and every h and r
// (recorded). Pointers a save leaves unused may be null. non_finite: null, or or-ed with 1 on NaN/inf
// in x and with 2 where h or r passed the input dtype's largest value (the state overflowed it).
extern "C" __global__ void neuron_forward(
    const io_t* __restrict__ x, io_t* __restrict__ spikes, acc_t* __restrict__ h_seq, acc_t* __restrict__ r_seq,
    acc_t* __restrict__ checkpoints, const acc_t* __restrict__ constants, const acc_t* __restrict__ v0,
    const acc_t* __restrict__ r0, acc_t* __restrict__ final_state, const long long steps, const long long n,
    const acc_t v_reset, const int save, int* __restrict__ non_finite) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  bool finite = true, bounded = true;  // the input is finite; the state fits the input's dtype
  const acc_t a = constants[i], u = constants[n + i], ar = constants[2 * n + i], c = constants[3 * n + i];
  acc_t* cp_v = checkpoints;
  acc_t* cp_r = save ? checkpoints + (steps + BCHUNK - 1) / BCHUNK * n : checkpoints;
  acc_t v = initial(v0, i), r = initial(r0, i);
  io_t next[CHUNK];
#pragma unroll
  for (int k = 0; k < CHUNK; ++k) next[k] = x[(k < steps ? k : steps - 1) * n + i];
  for (long long t0 = 0; t0 < steps; t0 += CHUNK) {
    io_t cur[CHUNK];
#pragma unroll
    for (int k = 0; k < CHUNK; ++k) {  // the next chunk's loads, in flight while this one is computed
      const long long t = t0 + CHUNK + k;
      cur[k] = next[k];
      next[k] = x[(t < steps ? t : steps - 1) * n + i];
    }
#pragma unroll
    for (int k = 0; k < CHUNK; ++k) {
      const long long t = t0 + k;
      if (t < steps) {
        if (save && k % BCHUNK == 0) {  // CHUNK is a multiple of BCHUNK: t0 + k starts a segment
          cp_v[(t / BCHUNK) * n + i] = v;
          cp_r[(t / BCHUNK) * n + i] = r;
        }
        const acc_t xt = load_io(cur[k]);
        finite &= isfinite(xt);
        acc_t h;
        const bool s = neuron_update(xt, a, u, ar, c, v_reset, h, v, r);
        // |v| <= |h| (soft) or v = v_reset (hard); false for NaN
        bounded &= fabs(h) <= IO_MAX && fabs(r) <= IO_MAX;
        spikes[t * n + i] = store_io(s ? (acc_t)1 : (acc_t)0);
        if (save == 2) {
          h_seq[t * n + i] = h;
          r_seq[t * n + i] = r;
        }
      }
    }
  }
  final_state[i] = v;
  final_state[n + i] = r;
  if ((!finite || !bounded) && non_finite) atomicOr(non_finite, (finite ? 0 : 1) | (bounded ? 0 : 2));
}
"""

_BACKWARD_STEP = r"""
// BPTT, one step backwards: lam_v = dL/dv[t] and lam_r1 = dL/dr[t] from later steps.
// grads: the HAS_* bits; g_spikes held raw until used, as in the forward.
struct Step { acc_t h, rp, gh, gr; io_t gs; };

__device__ __forceinline__ Step load_step(
    const long long t, const long long n, const long long i, const int grads, const io_t* g_spikes,
    const acc_t* g_h, const acc_t* g_r, const acc_t* h_seq, const acc_t* r_seq, const acc_t r0, const bool trace) {
  Step q;
  q.h = h_seq[t * n + i];
  q.rp = !trace ? (acc_t)0 : t > 0 ? r_seq[(t - 1) * n + i] : r0;
  q.gh = HAS_G_H ? g_h[t * n + i] : (acc_t)0;
  q.gr = HAS_G_R ? g_r[t * n + i] : (acc_t)0;
  if (HAS_G_SPIKES) q.gs = g_spikes[t * n + i];
  return q;
}

// what one step hands to the parameter gradients: v[t], s[t], dL/dz, dL/dr[t] (all of it), dL/dh = dL/dx
struct Adjoint { acc_t v, sf, lam_z, lam_r, lam_h, lam_v; };

// step t from its saved h, r[t-1] and incoming gradients (gs: dL/ds[t]); lam_v, lam_r1 become step t-1's
__device__ __forceinline__ Adjoint backward_step(
    const Step q, const acc_t gs, const acc_t a, const acc_t u, const acc_t ar, const acc_t c, const acc_t v_reset,
    acc_t& lam_v, acc_t& lam_r1) {
  Adjoint d;
  const acc_t z = sub(sub(q.h, u), q.rp);
  const bool s = z >= (acc_t)0;
  d.sf = s ? (acc_t)1 : (acc_t)0;
  d.v = reset_value(q.h, s, u, v_reset);
#if HARD_RESET
  const acc_t dv_ds = v_reset - q.h, dv_dh = (acc_t)1 - d.sf;
#else
  const acc_t dv_ds = -u, dv_dh = (acc_t)1;
#endif
  d.lam_v = lam_v;
  d.lam_r = q.gr + lam_r1;
  const acc_t lam_s = gs + RESET_GRAD * (dv_ds * lam_v + c * d.lam_r);
  d.lam_z = surrogate_derivative(z) * lam_s;
  d.lam_h = q.gh + d.lam_z + dv_dh * lam_v;
  lam_v = a * d.lam_h;
  lam_r1 = ar * d.lam_r - d.lam_z;
  return d;
}

// dL/d(tau, threshold, tau_r, refractory) summed over steps; tau's term pairs dL/dh[t+1] (lam_h1) with v[t]
struct ParamGrads { acc_t a, u, ar, c; };

__device__ __forceinline__ void add_param_grads(ParamGrads& g, const Adjoint d, const acc_t lam_h1, const acc_t rp) {
  g.a += lam_h1 * d.v;
#if HARD_RESET
  g.u -= d.lam_z;
#else
  g.u -= d.lam_z + d.sf * d.lam_v;
#endif
  g.ar += d.lam_r * rp;
  g.c += d.lam_r * d.sf;
}
"""

_BACKWARD = r"""
// a segment's loads: x and the incoming gradients of steps start .. start + BCHUNK - 1 (past the
// last step, the last step again; its values are not used)
struct Loads { io_t x, gs; acc_t gh, gr; };

__device__ __forceinline__ void load_segment(
    Loads (&l)[BCHUNK], const long long start, const long long steps, const long long n, const long long i,
    const int grads, const io_t* x, const io_t* g_spikes, const acc_t* g_h, const acc_t* g_r) {
#pragma unroll
  for (int k = 0; k < BCHUNK; ++k) {
    const long long t = start + k < steps ? start + k : steps - 1;
    l[k].x = x[t * n + i];
    l[k].gh = HAS_G_H ? g_h[t * n + i] : (acc_t)0;
    l[k].gr = HAS_G_R ? g_r[t * n + i] : (acc_t)0;
    if (HAS_G_SPIKES) l[k].gs = g_spikes[t * n + i];
  }
}

// BPTT per neuron, segments of BCHUNK steps from the last; each segment's h and r[t-1] are
// recomputed from its checkpoint (the forward's arithmetic: the same bits) and x, then walked
// backwards, t = end - 1 .. start; lam_h1 = dL/dh[t+1]. The loads of the segment before are in
// flight while one is computed.
extern "C" __global__ void neuron_backward(
    const io_t* __restrict__ g_spikes, const acc_t* __restrict__ g_h, const acc_t* __restrict__ g_r,  // [T, n]
    const acc_t* __restrict__ g_final,  // dL/d(final state) [2, n]: v, r
    const io_t* __restrict__ x, const acc_t* __restrict__ checkpoints,  // [2, ceil(T / BCHUNK), n]: v, r
    const acc_t* __restrict__ constants, const acc_t* __restrict__ v0, const acc_t* __restrict__ r0,
    io_t* __restrict__ g_x, acc_t* __restrict__ g_params,  // [6, n] or null: tau, threshold, tau_r, refractory, v0, r0
    const long long steps, const long long n, const acc_t v_reset, const int grads) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const acc_t a = constants[i], u = constants[n + i], ar = constants[2 * n + i], c = constants[3 * n + i];
  const acc_t* cp_v = checkpoints;
  const acc_t* cp_r = checkpoints + (steps + BCHUNK - 1) / BCHUNK * n;
  acc_t lam_v = HAS_G_FINAL ? g_final[i] : (acc_t)0, lam_r1 = HAS_G_FINAL ? g_final[n + i] : (acc_t)0;
  acc_t lam_h1 = 0;
  ParamGrads g = {0, 0, 0, 0};
  long long start = (steps - 1) / BCHUNK * BCHUNK;
  Loads next[BCHUNK];
  load_segment(next, start, steps, n, i, grads, x, g_spikes, g_h, g_r);
  for (; start >= 0; start -= BCHUNK) {
    Loads cur[BCHUNK];
#pragma unroll
    for (int k = 0; k < BCHUNK; ++k) cur[k] = next[k];
    if (start > 0) load_segment(next, start - BCHUNK, steps, n, i, grads, x, g_spikes, g_h, g_r);
    acc_t v = cp_v[(start / BCHUNK) * n + i], r = cp_r[(start / BCHUNK) * n + i];
    acc_t h[BCHUNK], rp[BCHUNK];
#pragma unroll
    for (int k = 0; k < BCHUNK; ++k) {
      rp[k] = r;
      neuron_update(load_io(cur[k].x), a, u, ar, c, v_reset, h[k], v, r);
    }
#pragma unroll
    for (int k = BCHUNK - 1; k >= 0; --k) {
      const long long t = start + k;
      if (t < steps) {
        const Step q = {h[k], rp[k], cur[k].gh, cur[k].gr, cur[k].gs};
        const acc_t gs = HAS_G_SPIKES ? load_io(q.gs) : (acc_t)0;
        const Adjoint d = backward_step(q, gs, a, u, ar, c, v_reset, lam_v, lam_r1);
        if (HAS_G_X) g_x[t * n + i] = store_io(d.lam_h);
        add_param_grads(g, d, lam_h1, q.rp);
        lam_h1 = d.lam_h;
      }
    }
  }
  if (!g_params) return;  // no constant or initial state wants a gradient
  g_params[i] = g.a + lam_h1 * initial(v0, i);  // the first step's h = tau v0 + x
  g_params[n + i] = g.u;
  g_params[2 * n + i] = g.ar;
  g_params[3 * n + i] = g.c;
  g_params[4 * n + i] = lam_v;
  g_params[5 * n + i] = lam_r1;
}
"""


def backward_step_source() -> str:
    """One BPTT step and the parameter-gradient sums in C, over the ``prelude``: what backward kernels share."""
    return _BACKWARD_STEP


def kernel_source(spec: KernelSpec) -> str:
    """The full CUDA source (forward and backward) for one ``KernelSpec``."""
    return prelude(spec) + _FORWARD + _BACKWARD_STEP + _BACKWARD
