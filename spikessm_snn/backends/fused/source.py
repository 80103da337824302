"""CUDA C source of the fused multi-step kernels: one template for the whole neuron family.

One thread per neuron, ``x [T, N]`` row-major so each time step is one coalesced row. A warp's
input rows are staged through shared memory: a tile holds ``forward_chunk`` steps of the warp's 32
neurons, and a ring of tiles keeps the next ones in flight (``cp.async``, 16 bytes a piece, where
rows are 16-byte aligned on sm_80 or later; else each lane copies its own values) while one is
computed, so a step waits for no load and holds no register for one. Time-last sequences
(``KernelSpec.time_last``: ``[N, T]``, an SSM's ``[B, H, L]``) are read and written as they are:
a tile holds a row of steps a neuron in swizzled 16-byte pieces, copied, read and (the outputs,
gathered a tile at a time) written a piece at a time; a value at a time where rows are not 16-byte
aligned.
The arithmetic is the reference's, operation for operation with explicit rounding (``mul``, ``add``,
``sub``: no fused multiply-add) and subnormals kept (float32 through NVVM's non-flushing intrinsics and
``setp`` without ``.ftz``, which CuPy's ``-ftz=true`` would give), so float32 spikes are equal to the
``'torch'`` loop's bit for bit.
For the backward the forward saves only the state before every segment (``KernelSpec.segment``
steps: a checkpoint); the backward runs the BPTT recurrence per neuron from ``T-1`` down to 0 by
segments, recomputing the segment before the one it walks (its charged potentials ``h`` and
traces ``r``, from its checkpoint and ``x``: the forward's arithmetic, the same bits) in the same
loop; a segment's ``x``, ``dL/ds`` and checkpoint are staged as the forward's tiles, in a ring of
``KernelSpec.backward_stages`` segments in dynamic shared memory, and only the gradients that exist
are read. The surrogate derivatives are written out below as the formulas of ``neurons/surrogate.py``
(the source of truth; a test evaluates both on a grid).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ...neurons.surrogate import Surrogate

FORWARD_CHUNK = 32  # steps a forward tile of staged input (halved for float64)
# steps a backward segment between checkpoints for 4-byte input: 64 bytes a neuron (32 steps in half precision)
BACKWARD_CHUNK = 16
THREADS = 128  # threads a block: four warps
STAGING_BYTES = 48 * 1024  # shared memory a block stages its tiles in (a static array's limit; the backward's ring
# takes as much where not in half precision)
# The backward's ring in half precision (dynamic shared memory): three 32-step segments, one more than 48 KiB holds.
# On an H100 (analysis/results/fused/h100_half_precision/) half-precision forward+backward at T = 1024 took 2-3.5 us
# less with it (0.58-0.59x float32's time, from 0.60-0.61x); a third slot made float32's LIF 2-4 us slower.
HALF_PRECISION_BACKWARD_STAGING_BYTES = 56 * 1024
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
    time_last: bool = False  # the sequences laid out [n, T] (each neuron's steps contiguous), not [T, n]

    def __post_init__(self) -> None:
        if self.time_last and _io_bytes(self.dtype) < 4:
            raise ValueError(f"time-last sequences need 4- or 8-byte values, not {self.dtype}")
        rows = {self.tile * _io_bytes(self.dtype), self.segment * _io_bytes(self.dtype)}
        if self.time_last and not rows <= {64, 128}:  # a tile's row: 4 or 8 pieces of 16 bytes (piece_slot)
            raise ValueError(f"a time-last tile's rows must be 64 or 128 bytes, not {sorted(rows)}")
        if self.tile % self.segment:  # the forward writes a checkpoint where a segment starts
            raise ValueError(f"the forward's tile ({self.tile} steps) must be a multiple of the backward's "
                             f"segment ({self.segment} steps)")  # fmt: skip
        for kernel, staged, limit in zip(("forward", "backward"), self.staged_bytes,
                                         (STAGING_BYTES, self.backward_staging_bytes), strict=True):  # fmt: skip
            if staged > limit:
                raise ValueError(f"{staged} bytes of staged tiles a block of the {kernel}, more than {limit}: "
                                 f"take a smaller forward_chunk or backward_chunk")  # fmt: skip

    @property
    def acc(self) -> str:
        return "double" if self.dtype == "float64" else "float"

    @property
    def segment(self) -> int:
        """The backward's segment (``BCHUNK``): steps between the forward's checkpoints of the state,
        ``backward_chunk`` scaled to the same input bytes (fewer checkpoints for half-precision input)."""
        return max(1, self.backward_chunk * 4 // _io_bytes(self.dtype))

    @property
    def tile(self) -> int:
        """The forward's tile (``CHUNK``): steps of staged input computed at a time."""
        return max(1, self.forward_chunk // (2 if self.acc == "double" else 1))

    @property
    def forward_stages(self) -> int:
        """Tiles in the forward's ring (``STAGES``): as many as ``STAGING_BYTES`` holds, at least 2."""
        per_warp = STAGING_BYTES // (THREADS // 32) - self._warp_outputs[0]
        return max(2, per_warp // self._warp_tile_bytes)

    @property
    def backward_staging_bytes(self) -> int:
        """Shared memory a block of the backward stages its segments in: ``STAGING_BYTES``, or
        ``HALF_PRECISION_BACKWARD_STAGING_BYTES`` for 2-byte input."""
        return HALF_PRECISION_BACKWARD_STAGING_BYTES if _io_bytes(self.dtype) == 2 else STAGING_BYTES

    @property
    def backward_stages(self) -> int:
        """Segments in the backward's ring (``BSTAGES``: each its ``x``, ``dL/ds`` and checkpoint), as
        many as ``backward_staging_bytes`` holds, at least 2."""
        per_warp = self.backward_staging_bytes // (THREADS // 32) - self._warp_outputs[1]
        return max(2, per_warp // self._warp_segment_bytes)

    @property
    def backward_ring_bytes(self) -> int:
        """The backward's ring of segments: the dynamic shared memory its launch gives."""
        return THREADS // 32 * self.backward_stages * self._warp_segment_bytes

    @property
    def _warp_tile_bytes(self) -> int:
        return self.tile * 32 * _io_bytes(self.dtype)

    @property
    def _warp_segment_bytes(self) -> int:  # x and dL/ds of a segment, and a checkpoint (v, r)
        return 32 * (2 * self.segment * _io_bytes(self.dtype) + 2 * (8 if self.acc == "double" else 4))

    @property
    def _warp_outputs(self) -> tuple[int, int]:
        """Bytes a warp gathers its time-last outputs in before writing them: the forward's spikes
        (a tile), the backward's dL/dx (a segment); none for time-first sequences."""
        io = _io_bytes(self.dtype) if self.time_last else 0
        return self.tile * 32 * io, self.segment * 32 * io

    @property
    def staged_bytes(self) -> tuple[int, int]:
        """Shared memory a block of the forward and of the backward stages its tiles in."""
        warps, (forward_out, backward_out) = THREADS // 32, self._warp_outputs
        return (warps * (self.forward_stages * self._warp_tile_bytes + forward_out),
                self.backward_ring_bytes + warps * backward_out)  # fmt: skip


@functools.cache
def kernel_spec(dtype: str, surrogate: Surrogate, hard_reset: bool, detach_reset: bool, time_last: bool) -> KernelSpec:
    """``KernelSpec(dtype, surrogate, hard_reset, detach_reset, time_last=time_last)``, made and checked
    once: a call's spec is looked up, not built."""
    return KernelSpec(dtype, surrogate, hard_reset, detach_reset, time_last=time_last)


def _io_bytes(dtype: str) -> int:
    return getattr(torch, dtype).itemsize


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


# float32 operations that keep subnormals: CuPy compiles with ``-ftz=true``, under which ``__fadd_rn`` and
# ``z >= 0`` flush them (h - u = -1e-40 would fire). The arithmetic is NVVM's non-flushing intrinsics, which the
# compiler schedules as its own (inline PTX arithmetic, opaque to it, made SRR's half-precision forward 1.2x
# slower); `sub` is b * -1 + a in one rounding, a - b as IEEE rounds it (``-b`` is a flushing ``neg``, and a
# flipped sign bit costs an integer instruction a step); the comparisons are PTX ``setp``.
# float64 is never flushed. name: (the float32 form on the device, the C expression elsewhere; {sfx}: f or d)
_EXACT_OPERATIONS = {"mul": ("__nvvm_mul_rn_f(a, b)", "__{sfx}mul_rn(a, b)"),
                     "add": ("__nvvm_add_rn_f(a, b)", "__{sfx}add_rn(a, b)"),
                     "sub": ("__nvvm_fma_rn_f(b, -1.0f, a)", "__{sfx}sub_rn(a, b)"),
                     "at_least": ("setp.ge.f32", "a >= b"), "differs": ("setp.neu.f32", "a != b")}  # fmt: skip


def _exact_arithmetic(sfx: str) -> str:
    """``mul``, ``add``, ``sub`` (rounded to nearest, never fused) and the comparisons ``at_least`` (>=) and
    ``differs`` (!=) over ``acc_t`` as IEEE and the reference compute them, subnormals included."""
    lines = []
    for name, (exact, plain) in _EXACT_OPERATIONS.items():
        result, plain = ("bool" if exact.startswith("setp") else "acc_t"), f"return {plain.format(sfx=sfx)};"
        head = f"__device__ __forceinline__ {result} {name}(acc_t a, acc_t b) {{"
        if sfx == "d":  # float64: the intrinsics and comparisons as they are
            lines.append(f"{head} {plain} }}")
            continue
        device = (f'unsigned r; asm("{{ .reg .pred p; {exact} p, %1, %2; selp.u32 %0, 1, 0, p; }}" : "=r"(r) : '
                  f'"f"(a), "f"(b)); return r != 0;' if result == "bool" else f"return {exact};")  # fmt: skip
        lines.append(f"{head}\n#if defined(__CUDA_ARCH__)\n  {device}\n#else\n  {plain}\n#endif\n}}")
    return "\n".join(lines)


def prelude(spec: KernelSpec) -> str:
    """Types, rounding arithmetic, the per-step neuron update and the surrogates for ``spec``:
    what every kernel shares."""
    t, acc = _C_TYPES[spec.dtype], spec.acc
    sfx = "d" if acc == "double" else "f"
    load = f"{_TO_ACC[t]}(p)" if t in _TO_ACC else "(p)"
    store = f"{_FROM_FLOAT[t]}(v)" if t in _FROM_FLOAT else f"({t})(v)"
    header = {"__half": "#include <cuda_fp16.h>", "__nv_bfloat16": "#include <cuda_bf16.h>"}.get(t, "")
    has = "".join(f"#define HAS_{name.upper()} (grads & {bit})\n" for name, bit in GRADIENT_BITS.items())
    return f"""
{header}
typedef {t} io_t;
typedef {acc} acc_t;
#define WARPS {THREADS // 32}
#define CHUNK {spec.tile}
#define STAGES {spec.forward_stages}
#define BCHUNK {spec.segment}
#define BSTAGES {spec.backward_stages}
#define HARD_RESET {int(spec.hard_reset)}
#define TIME_LAST {int(spec.time_last)}
#define RESET_GRAD {0 if spec.detach_reset else 1}
#define IO_MAX {torch.finfo(getattr(torch, spec.dtype)).max!r}{"f" if acc == "float" else ""}
{has}
__device__ __forceinline__ acc_t load_io(io_t p) {{ return {load}; }}
__device__ __forceinline__ io_t store_io(acc_t v) {{ return {store}; }}
{_exact_arithmetic(sfx)}
// r stays exactly 0 (its stores and loads are skipped) unless the neuron has a refractory
// magnitude or starts with a trace: decided per neuron on the device, never by the host
__device__ __forceinline__ bool has_trace(acc_t c, acc_t r0, acc_t tau_r) {{
  return differs(c, (acc_t)0) || differs(r0, (acc_t)0) || !isfinite(tau_r);
}}
// a neuron's initial v or r: given per neuron, or (a null pointer: the zero state) 0
__device__ __forceinline__ acc_t initial(const acc_t* state, const long long i) {{
  return state ? state[i] : (acc_t)0;
}}
// the membrane after reset from the charged potential h and the spike s
__device__ __forceinline__ acc_t reset_value(acc_t h, bool s, acc_t u, acc_t v_reset) {{
  return s ? (HARD_RESET ? v_reset : sub(h, u)) : h;
}}
// z = (h - u) - r, the charged potential over the threshold and the trace; without a `trace`
// (has_trace false: r is 0 throughout) h - u, the same bits
__device__ __forceinline__ acc_t excess(acc_t h, acc_t u, acc_t r, const bool trace) {{
  return trace ? sub(sub(h, u), r) : sub(h, u);
}}
// one step, the reference's arithmetic operation for operation: h = tau v + x;  z = (h - u) - r;
// s = z >= 0;  v = reset(h, s);  r = tau_r r + c s. Returns s; h, v and r are updated (r left alone
// without a `trace`).
__device__ __forceinline__ bool neuron_update(
    acc_t xt, acc_t a, acc_t u, acc_t ar, acc_t c, acc_t v_reset, acc_t& h, acc_t& v, acc_t& r,
    const bool trace = true) {{
  h = add(mul(a, v), xt);
  const bool s = at_least(excess(h, u, r, trace), (acc_t)0);
  v = reset_value(h, s, u, v_reset);
  if (trace) r = add(mul(ar, r), s ? c : (acc_t)0);
  return s;
}}
// whether p holds on every lane of the warp (on the host, where each lane stages its own values
// and runs alone: its own p)
__device__ __forceinline__ bool warp_all(const bool p) {{
#if defined(__CUDA_ARCH__)
  return __all_sync(0xffffffffu, p);
#else
  return p;
#endif
}}
{surrogate_source(spec.surrogate)}"""


_STAGING = r"""
// Rows t0 .. t0 + R - 1 (those before `steps`) of a row-major [steps, n] array, the warp's 32
// neurons from `first` on, into `tile`: 16-byte pieces copied asynchronously by the warp's lanes
// together (cp.async) when `async`, each lane the same piece of every (32 / per_row)-th row, its
// address advanced a row stride at a time; else each lane copies its own neuron's values (plain
// loads: rows not 16-byte aligned, GPUs before sm_80, the host). `full`: every row exists (t0 + R
// <= steps), so no row is checked (each call site passes a constant).
template <typename T, int R>
__device__ __forceinline__ void stage_rows(T (&tile)[R][32], const T* __restrict__ rows, const long long t0,
    const long long steps, const long long n, const long long first, const int lane, const bool async,
    const bool full) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (async) {
    // pass: the rows one copy of the warp's lanes covers
    constexpr int per_row = 32 * sizeof(T) / 16, width = 16 / sizeof(T), pass = 32 / per_row;
    const int k0 = lane / per_row, q = lane % per_row * width;  // the lane's first row and its piece's first neuron
    if (first + q >= n) return;  // the piece starts past the last neuron
    const int left = full ? R : (int)min(steps - t0, (long long)R);  // the tile's rows that exist
    const T* from = rows + (t0 + k0) * n + first + q;
    const long long stride = pass * n;
#pragma unroll
    for (int k = k0; k < R; k += pass, from += stride) {
      if (k < left) {
        const unsigned to = (unsigned)__cvta_generic_to_shared(&tile[k][q]);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(to), "l"(from));
      }
    }
    return;
  }
#endif
  if (first + lane >= n) return;
#pragma unroll
  for (int k = 0; k < R; ++k)
    if (full || t0 + k < steps) tile[k][lane] = rows[(t0 + k) * n + first + lane];
}
// A tile of a sequence [T, n] or [n, T] (TIME_LAST): steps t0 .. t0 + R - 1 of the warp's 32
// neurons. Time-first tiles are read as tile[k][lane]. A time-last tile is the warp's 32 rows of R
// values (a neuron's steps) in 16-byte pieces, piece p of row j at piece_slot(j, p), swizzled so
// that a quarter warp's 16-byte accesses, to a row's pieces or to one piece of 8 rows, meet in no
// bank: copied, read and written a piece at a time.
#define PIECE (16 / (int)sizeof(io_t))  // values a piece
struct __align__(16) Piece { io_t v[PIECE]; };
template <int R>
__device__ __forceinline__ int piece_slot(const int j, const int p) {
  constexpr int per_row = R / PIECE;
  static_assert(per_row == 4 || per_row == 8, "a time-last tile's row is 4 or 8 pieces");
  return j * per_row + (p ^ (j / (8 / per_row)) % per_row);
}
template <int R>
__device__ __forceinline__ Piece* pieces_of(io_t (&tile)[R][32]) { return reinterpret_cast<Piece*>(&tile[0][0]); }
template <int R>
__device__ __forceinline__ const Piece* pieces_of(const io_t (&tile)[R][32]) {
  return reinterpret_cast<const Piece*>(&tile[0][0]);
}
// step k of the lane's neuron in a staged tile; time-last: out of `held`, the piece holding step k,
// read from the tile where `fresh` (at the first step of the piece the lane visits)
template <int R>
__device__ __forceinline__ io_t staged(const io_t (&tile)[R][32], const int k, const int lane, Piece& held,
                                       const bool fresh) {
  if constexpr (TIME_LAST) {
    if (fresh) held = pieces_of(tile)[piece_slot<R>(lane, k / PIECE)];
    return held.v[k % PIECE];
  } else {
    return tile[k][lane];
  }
}
// put the lane's value of step k into a time-last tile to be written out (write_steps): kept in
// `held` and stored a piece at a time, where `complete` (the piece's last step the lane visits)
template <int R>
__device__ __forceinline__ void gather(io_t (&tile)[R][32], const int k, const int lane, const io_t value, Piece& held,
                                       const bool complete) {
  held.v[k % PIECE] = value;
  if (complete) pieces_of(tile)[piece_slot<R>(lane, k / PIECE)] = held;
}
template <int R>
__device__ __forceinline__ void stage_steps(io_t (&tile)[R][32], const io_t* __restrict__ seq, const long long t0,
    const long long steps, const long long n, const long long first, const int lane, const bool async,
    const bool full) {
#if TIME_LAST
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (async) {  // the rows 16-byte aligned: whole pieces, a row's by per_row lanes side by side
    constexpr int per_row = R / PIECE;
    const int p = lane % per_row, neurons = (int)(n - first < 32 ? n - first : 32);
    if (!full && t0 + p * PIECE >= steps) return;
    const io_t* from = seq + (first + lane / per_row) * steps + t0 + p * PIECE;
#pragma unroll
    for (int j = lane / per_row; j < 32; j += 32 / per_row, from += 32 / per_row * steps) {
      if (j < neurons) {
        const unsigned to = (unsigned)__cvta_generic_to_shared(&pieces_of(tile)[piece_slot<R>(j, p)]);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(to), "l"(from));
      }
    }
    return;
  }
#endif
  if (first + lane >= n) return;  // each lane its own row, a value at a time
  const io_t* from = seq + (first + lane) * steps + t0;
#pragma unroll
  for (int k = 0; k < R; ++k)
    if (full || t0 + k < steps) pieces_of(tile)[piece_slot<R>(lane, k / PIECE)].v[k % PIECE] = from[k];
#else
  stage_rows(tile, seq, t0, steps, n, first, lane, async, full);
#endif
}
// a time-last tile's first `rows` steps, gathered by the lanes, to their sequence (after the warp
// has synced): whole pieces, a row's by per_row lanes side by side, where the rows are 16-byte
// aligned (`whole`); else a value at a time
template <int R>
__device__ __forceinline__ void write_steps(const io_t (&tile)[R][32], io_t* __restrict__ seq, const long long t0,
    const int rows, const long long steps, const long long n, const long long first, const int lane,
    const bool whole) {
#if defined(__CUDA_ARCH__)
  constexpr int per_row = R / PIECE;
  const int p = lane % per_row, neurons = (int)(n - first < 32 ? n - first : 32);
  if (p * PIECE >= rows) return;
  io_t* to = seq + (first + lane / per_row) * steps + t0 + p * PIECE;
#pragma unroll
  for (int j = lane / per_row; j < 32; j += 32 / per_row, to += 32 / per_row * steps) {
    if (j >= neurons) continue;
    const Piece& piece = pieces_of(tile)[piece_slot<R>(j, p)];
    if (whole) {
      *reinterpret_cast<Piece*>(to) = piece;
    } else {
#pragma unroll
      for (int e = 0; e < PIECE; ++e)
        if (p * PIECE + e < rows) to[e] = piece.v[e];
    }
  }
#else  // one thread at a time: each lane writes its own
  if (first + lane >= n) return;
  for (int k = 0; k < rows; ++k)
    seq[(first + lane) * steps + t0 + k] = pieces_of(tile)[piece_slot<R>(lane, k / PIECE)].v[k % PIECE];
#endif
}
// whether stage_rows may copy `rows` [., n] of `bytes`-sized values in 16-byte pieces
__device__ __forceinline__ bool rows_aligned(const void* rows, const long long n, const int bytes) {
  return ((unsigned long long)rows | (unsigned long long)(n * bytes)) % 16 == 0;
}
// close the group of copies staged since the last commit (an empty group too)
__device__ __forceinline__ void stage_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// wait for the block's `warps` warps (those with neurons): a block's warps walk time-first rows in step, so
// that each row's pieces of its neurons (4 x 64 bytes in half precision) are read and written together;
// warps out of step spread a row's 64-byte pieces over time, and DRAM serves them up to 1.4x slower
__device__ __forceinline__ void block_in_step(const int warps) {
#if defined(__CUDA_ARCH__)
  asm volatile("bar.sync 1, %0;\n" ::"r"(warps * 32) : "memory");
#endif
}
// wait until every group but the newest PENDING is in, and the warp's lanes see each other's copies
template <int PENDING>
__device__ __forceinline__ void stage_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
#endif
  __syncwarp();
}
"""

_FORWARD = r"""
// h = tau v + x;  z = (h - u) - r;  s = z >= 0;  v = reset(h, s);  r = tau_r r + c s, from v0, r0 [n]
// (null: zero) to final_state [2, n] (v, r; in the input's dtype), constants [4, n] (tau, threshold, tau_r,
// refractory).
// save: 0 nothing; 1 the state (v, r) before every BCHUNK-th step into checkpoints
// [ceil(T / BCHUNK), 2, n] (what the backward recomputes from); 2 that, and every h and r
// (recorded). Pointers a save leaves unused may be null. non_finite: null, or or-ed with 1 on NaN/inf
// in x and with 2 where h or r passed the input dtype's largest value (the state overflowed it).
// x is staged a tile of CHUNK steps at a time, STAGES - 1 tiles ahead. x and spikes are [T, n], or
// [n, T] (TIME_LAST: the spikes gathered a tile at a time); h_seq and r_seq [T, n].
extern "C" __global__ void neuron_forward(
    const io_t* __restrict__ x, io_t* __restrict__ spikes, acc_t* __restrict__ h_seq, acc_t* __restrict__ r_seq,
    acc_t* __restrict__ checkpoints, const acc_t* __restrict__ constants, const acc_t* __restrict__ v0,
    const acc_t* __restrict__ r0, io_t* __restrict__ final_state, const long long steps, const long long n,
    const acc_t v_reset, const int save, int* __restrict__ non_finite) {
  __shared__ __align__(16) io_t ring[WARPS][STAGES][CHUNK][32];
  __shared__ __align__(16) io_t gathered[WARPS][TIME_LAST ? CHUNK : 1][32];  // a tile's spikes (time-last)
  const int lane = threadIdx.x % 32;
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, first = i - lane;
  if (first >= n) return;  // the whole warp is past the last neuron
  const bool active = i < n;  // a lane past the last neuron only stages rows with the others
  const long long j = active ? i : first;
  const int warps = (int)min((long long)WARPS, (n - (long long)blockIdx.x * blockDim.x + 31) / 32);  // with neurons
  io_t (&tiles)[STAGES][CHUNK][32] = ring[threadIdx.x / 32];
  auto& out = gathered[threadIdx.x / 32];
  const bool async = rows_aligned(x, TIME_LAST ? steps : n, sizeof(io_t));
  const bool whole = TIME_LAST && rows_aligned(spikes, steps, sizeof(io_t));  // spikes written a piece at a time
  bool finite = true, bounded = true;  // the input is finite; the state fits the input's dtype
  const acc_t a = constants[j], u = constants[n + j], ar = constants[2 * n + j], c = constants[3 * n + j];
  acc_t v = initial(v0, j), r = initial(r0, j);
  const io_t one = store_io((acc_t)1), zero = store_io((acc_t)0);  // a spike and none in the output's dtype
  // a warp none of whose neurons has a trace (r = 0 throughout: a LIF's) updates without one
  const bool traceless = warp_all(!active || !has_trace(c, r, ar));
  // the steps of one tile from t0 on, `rows` of them (CHUNK but for the last tile); NaN/inf and
  // overflow looked for if `check`; `keep` as `save`; r left at 0 without a `trace` (each call site
  // inlines its own constant rows, check, keep and trace)
  auto run_tile = [&](const io_t (&tile)[CHUNK][32], const long long t0, const int rows, const bool check,
                      const int keep, const bool trace) {
    Piece x_held, s_held;  // time-last: the piece of x read, the piece of spikes gathered
#pragma unroll
    for (int k = 0; k < CHUNK; ++k) {
      if (k >= rows) break;
      if (keep && k % BCHUNK == 0) {  // CHUNK is a multiple of BCHUNK: t0 + k starts a segment
        acc_t* state = checkpoints + 2 * ((t0 + k) / BCHUNK) * n + i;  // the segment's v row, then its r row
        state[0] = v;
        state[n] = r;
      }
      const acc_t xt = load_io(staged(tile, k, lane, x_held, k % PIECE == 0));
      acc_t h;
      const bool s = neuron_update(xt, a, u, ar, c, v_reset, h, v, r, trace);
      if (check) {  // |v| <= |h| (soft) or v = v_reset (hard); false for NaN
        finite &= isfinite(xt);
        bounded &= fabs(h) <= IO_MAX && fabs(r) <= IO_MAX;
      }
      const io_t spike = s ? one : zero;
      if constexpr (TIME_LAST) gather(out, k, lane, spike, s_held, k % PIECE == PIECE - 1 || k == rows - 1);
      else spikes[(t0 + k) * n + i] = spike;
      if (keep == 2) {
        h_seq[(t0 + k) * n + i] = h;
        r_seq[(t0 + k) * n + i] = r;
      }
    }
  };
#pragma unroll
  for (int k = 0; k < STAGES - 1; ++k) {
    stage_steps(tiles[k], x, (long long)k * CHUNK, steps, n, first, lane, async, false);
    stage_commit();
  }
  int slot = 0;
  for (long long t0 = 0; t0 < steps; t0 += CHUNK) {
    io_t (&next)[CHUNK][32] = tiles[slot == 0 ? STAGES - 1 : slot - 1];  // the tile STAGES - 1 ahead
    const long long ahead = t0 + (STAGES - 1) * CHUNK;
    if (ahead + CHUNK <= steps) stage_steps(next, x, ahead, steps, n, first, lane, async, true);
    else stage_steps(next, x, ahead, steps, n, first, lane, async, false);
    stage_commit();
    stage_wait<STAGES - 1>();
    if (active) {
      if (t0 + CHUNK > steps || non_finite || save == 2)
        run_tile(tiles[slot], t0, (int)min(steps - t0, (long long)CHUNK), non_finite, save, true);
      else if (traceless && save) run_tile(tiles[slot], t0, CHUNK, false, 1, false);
      else if (traceless) run_tile(tiles[slot], t0, CHUNK, false, 0, false);
      else if (save) run_tile(tiles[slot], t0, CHUNK, false, 1, true);
      else run_tile(tiles[slot], t0, CHUNK, false, 0, true);
    }
    // every lane is done with the tile before it is staged again (and wrote its spikes)
    if constexpr (TIME_LAST) __syncwarp();
    else block_in_step(warps);
    if constexpr (TIME_LAST)
      write_steps(out, spikes, t0, (int)(t0 + CHUNK <= steps ? CHUNK : steps - t0), steps, n, first, lane, whole);
    slot = slot + 1 == STAGES ? 0 : slot + 1;
  }
  if (!active) return;
  final_state[i] = store_io(v);
  final_state[n + i] = store_io(r);
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

// step t from its saved h, r[t-1] and incoming gradients (gs: dL/ds[t]); lam_v, lam_r1 become step t-1's.
// Without a `trace` (r = 0 throughout, c = 0) nothing reaches dL/dv through r: lam_r1 is left alone and
// d.lam_r is 0, for a caller that wants no gradient of c, tau_r or r0. Without `given` (no dL/dh, dL/dr
// anywhere) q.gh and q.gr are not added: no "+ 0" a step.
__device__ __forceinline__ Adjoint backward_step(
    const Step q, const acc_t gs, const acc_t a, const acc_t u, const acc_t ar, const acc_t c, const acc_t v_reset,
    acc_t& lam_v, acc_t& lam_r1, const bool trace = true, const bool given = true) {
  Adjoint d;
  const acc_t z = excess(q.h, u, q.rp, trace);
  const bool s = at_least(z, (acc_t)0);
  d.sf = s ? (acc_t)1 : (acc_t)0;
  d.v = reset_value(q.h, s, u, v_reset);
#if HARD_RESET
  const acc_t dv_ds = v_reset - q.h, dv_dh = (acc_t)1 - d.sf;
#else
  const acc_t dv_ds = -u, dv_dh = (acc_t)1;
#endif
  d.lam_v = lam_v;
  d.lam_r = !trace ? (acc_t)0 : given ? q.gr + lam_r1 : lam_r1;
  const acc_t lam_s = gs + RESET_GRAD * (trace ? dv_ds * lam_v + c * d.lam_r : dv_ds * lam_v);
  d.lam_z = surrogate_derivative(z) * lam_s;
  d.lam_h = (given ? q.gh + d.lam_z : d.lam_z) + dv_dh * lam_v;
  lam_v = a * d.lam_h;
  if (trace) lam_r1 = ar * d.lam_r - d.lam_z;
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
// BPTT per neuron, segments of BCHUNK steps from the last. A segment's h and r[t-1] are recomputed
// from its checkpoint (the forward's arithmetic: the same bits) and x while the segment after it
// is walked backwards (t = end - 1 .. start; lam_h1 = dL/dh[t+1]): two independent chains in one
// loop. Staged BSTAGES - 1 segments ahead: the x and checkpoint of a segment to recompute and the
// dL/ds of one to walk (BSTAGES slots; slot s % BSTAGES holds segment s's). x, dL/ds and dL/dx are
// [T, n], or [n, T] (TIME_LAST: dL/dx gathered a segment at a time); dL/dh and dL/dr [T, n].
extern "C" __global__ void neuron_backward(
    const io_t* __restrict__ g_spikes, const acc_t* __restrict__ g_h, const acc_t* __restrict__ g_r,  // [T, n]
    const io_t* __restrict__ g_final,  // dL/d(final state) [2, n]: v, r
    const io_t* __restrict__ x, const acc_t* __restrict__ checkpoints,  // [ceil(T / BCHUNK), 2, n]: v, r
    const acc_t* __restrict__ constants, const acc_t* __restrict__ v0, const acc_t* __restrict__ r0,
    io_t* __restrict__ g_x, acc_t* __restrict__ g_params,  // [6, n] or null: tau, threshold, tau_r, refractory, v0, r0
    const long long steps, const long long n, const acc_t v_reset, const int grads) {
  // x, v, r of one segment; gs of another
  struct Slot { io_t x[BCHUNK][32], gs[BCHUNK][32]; acc_t state[2][32]; };  // state: the checkpoint's v, r rows
  // the ring in dynamic shared memory (KernelSpec.backward_ring_bytes, given at launch: more than a static
  // array may take in half precision); on the host, where one thread runs at a time, a static array
#if defined(__CUDA_ARCH__)
  extern __shared__ __align__(16) unsigned char dynamic_ring[];
  Slot (*ring)[BSTAGES] = reinterpret_cast<Slot (*)[BSTAGES]>(dynamic_ring);
#else
  __shared__ __align__(16) Slot ring[WARPS][BSTAGES];
#endif
  __shared__ __align__(16) io_t gathered[WARPS][TIME_LAST ? BCHUNK : 1][32];  // a segment's dL/dx (time-last)
  const int lane = threadIdx.x % 32;
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, first = i - lane;
  if (first >= n) return;  // the whole warp is past the last neuron
  const bool active = i < n;  // a lane past the last neuron only stages rows with the others
  const long long j = active ? i : first;
  Slot (&slots)[BSTAGES] = ring[threadIdx.x / 32];
  // segment s's slot (s >= 0; fewer than 2^32 segments: no tensor holds that many steps)
  auto slot = [&](const long long s) -> Slot& { return slots[(unsigned)s % BSTAGES]; };
  auto& out = gathered[threadIdx.x / 32];
  const acc_t a = constants[j], u = constants[n + j], ar = constants[2 * n + j], c = constants[3 * n + j];
  const long long count = (steps + BCHUNK - 1) / BCHUNK;
  const int last_rows = (int)(steps - (count - 1) * BCHUNK);
  const long long row = TIME_LAST ? steps : n;  // the sequences' row length
  const bool async_x = rows_aligned(x, row, sizeof(io_t)), async_cp = rows_aligned(checkpoints, n, sizeof(acc_t));
  const bool async_gs = HAS_G_SPIKES && rows_aligned(g_spikes, row, sizeof(io_t));
  const bool whole = TIME_LAST && HAS_G_X && rows_aligned(g_x, steps, sizeof(io_t));  // dL/dx written a piece at a time
  // one group of copies: what recomputing `recompute` needs, and dL/ds of `walk` (a negative one: nothing);
  // `full`: neither is the last segment (which may be partial; each call site passes a constant)
  auto stage = [&](const long long recompute, const long long walk, const bool full) {
    if (recompute >= 0) {
      Slot& to = slot(recompute);
      stage_steps(to.x, x, recompute * BCHUNK, steps, n, first, lane, async_x, full);
      stage_rows(to.state, checkpoints, 2 * recompute, 2 * count, n, first, lane, async_cp, true);
    }
    if (HAS_G_SPIKES && walk >= 0)
      stage_steps(slot(walk).gs, g_spikes, walk * BCHUNK, steps, n, first, lane, async_gs, full);
    stage_commit();
  };
  const bool plain = HAS_G_SPIKES && HAS_G_X && !HAS_G_H && !HAS_G_R;
  acc_t lam_v = HAS_G_FINAL ? load_io(g_final[j]) : (acc_t)0, lam_r1 = HAS_G_FINAL ? load_io(g_final[n + j]) : (acc_t)0;
  acc_t lam_h1 = 0;
  ParamGrads g = {0, 0, 0, 0};
  acc_t h[BCHUNK], rp[BCHUNK], h_next[BCHUNK], rp_next[BCHUNK];  // the walked segment's, the recomputed one's
  // walk segment `segment` (`rows` steps: BCHUNK but for the last one) and, if `recompute`, recompute
  // the one before it into h_next, rp_next; the constants' gradients summed if `sum_params`; `plain`:
  // dL/ds given, dL/dx wanted, no gradient of h or r (training on the spikes); without a `trace`, r
  // (0 throughout) neither recomputed nor walked. Each call site inlines its own constant rows and flags.
  auto run_segment = [&](const long long segment, const int rows, const bool sum_params, const bool recompute,
                         const bool plain, const bool trace) {
    const long long start = segment * BCHUNK;
    const Slot& walk = slot(segment);
    const Slot& next = slot(segment + BSTAGES - 1);
    acc_t v = recompute ? next.state[0][lane] : (acc_t)0, r = recompute && trace ? next.state[1][lane] : (acc_t)0;
    Piece x_held, gs_held, gx_held;  // time-last: the pieces of x and dL/ds read, of dL/dx gathered
#pragma unroll
    for (int q = 0; q < BCHUNK; ++q) {
      if (recompute) {
        if (trace) rp_next[q] = r;
        neuron_update(load_io(staged(next.x, q, lane, x_held, q % PIECE == 0)), a, u, ar, c, v_reset, h_next[q], v, r,
                      trace);
      }
      const int k = BCHUNK - 1 - q;
      if (k >= rows) continue;
      const long long t = start + k;  // dL/dh, dL/dr read where given (record: a loss on h or r)
      const Step step = {h[k], trace ? rp[k] : (acc_t)0, !plain && HAS_G_H ? g_h[t * n + i] : (acc_t)0,
                         !plain && HAS_G_R ? g_r[t * n + i] : (acc_t)0,
                         staged(walk.gs, k, lane, gs_held, k % PIECE == PIECE - 1 || k == rows - 1)};
      const acc_t gs = plain || HAS_G_SPIKES ? load_io(step.gs) : (acc_t)0;
      const Adjoint d = backward_step(step, gs, a, u, ar, c, v_reset, lam_v, lam_r1, trace, !plain);
      if (plain || HAS_G_X) {
        if constexpr (TIME_LAST) gather(out, k, lane, store_io(d.lam_h), gx_held, k % PIECE == 0);
        else g_x[t * n + i] = store_io(d.lam_h);
      }
      if (sum_params) add_param_grads(g, d, lam_h1, step.rp);
      lam_h1 = d.lam_h;
    }
  };
  // the copies of iteration `segment` are those iteration `segment` - (BSTAGES - 1) needs (its x and
  // checkpoint of the segment before it, its dL/ds); first the last segment's x and checkpoint
  stage(count - 1, -1, false);
#pragma unroll
  for (int ahead = BSTAGES - 1; ahead >= 1; --ahead)  // the iterations count - 1 + ahead, before the first
    stage(count - 1 + ahead - BSTAGES, count - 1 + ahead - (BSTAGES - 1), false);
  stage_wait<BSTAGES - 1>();
  if (active) {  // the last segment's h and r[t-1]
    const Slot& last = slot(count - 1);
    acc_t v = last.state[0][lane], r = last.state[1][lane];
    Piece x_held;
#pragma unroll
    for (int k = 0; k < BCHUNK; ++k) {
      rp_next[k] = r;
      if (k < last_rows)
        neuron_update(load_io(staged(last.x, k, lane, x_held, k % PIECE == 0)), a, u, ar, c, v_reset, h_next[k], v, r);
    }
  }
  // every segment from the last; `traceless`: a warp none of whose neurons has a trace (r = 0 throughout:
  // a LIF's) walks without one where no constant or initial state wants a gradient (c's needs the
  // trace's adjoint even at c = 0). Called with either constant, so each loop has its own bodies.
  auto walk_segments = [&](const bool traceless) {
    for (long long segment = count - 1; segment >= 0; --segment) {
#pragma unroll
      for (int k = 0; k < BCHUNK; ++k) {  // the segment recomputed last is the one walked now
        h[k] = h_next[k];
        rp[k] = rp_next[k];
      }
      __syncwarp();  // every lane is done with the slot the next copies go to
      stage(segment - BSTAGES, segment - (BSTAGES - 1), true);  // segments before the last: whole
      stage_wait<BSTAGES - 1>();
      if (active) {
        // one loop body runs a launch where every segment is whole (a partial last one has its own), so a
        // short sequence fetches no more kernel code than a long one; segment 0 recomputes from whatever
        // its `next` slot holds, never used (no branch in the body)
        if (segment == count - 1 && last_rows < BCHUNK)
          run_segment(segment, last_rows, g_params, segment > 0, false, true);
        else if (traceless) run_segment(segment, BCHUNK, false, true, true, false);
        else if (!plain) run_segment(segment, BCHUNK, g_params, true, false, true);
        else if (g_params) run_segment(segment, BCHUNK, true, true, true, true);
        else run_segment(segment, BCHUNK, false, true, true, true);
      }
      if constexpr (TIME_LAST) {
        __syncwarp();  // the lanes' dL/dx gathered
        const int rows = segment == count - 1 ? last_rows : BCHUNK;
        if (HAS_G_X) write_steps(out, g_x, segment * BCHUNK, rows, steps, n, first, lane, whole);
      }
    }
  };
  if (plain && !g_params && warp_all(!active || !has_trace(c, initial(r0, j), ar))) walk_segments(true);
  else walk_segments(false);
  if (!active || !g_params) return;  // no constant or initial state wants a gradient
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
    return prelude(spec) + _STAGING + _FORWARD + _BACKWARD_STEP + _BACKWARD
