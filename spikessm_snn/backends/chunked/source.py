"""CUDA C source of the chunked forward: ``speculation.py``'s three phases, one thread per chunk and neuron.

``x [T, n]`` row-major; chunk ``k`` of neuron ``i`` covers steps ``[k C, min(T, k C + C))`` and
is thread ``k n + i`` (neighbouring threads read neighbouring neurons: coalesced). Kernels, in
launch order:

- ``chunk_speculate``: every chunk from the true start (chunk 0) or the guess, writing spikes,
  ``h`` and ``r`` (what the backward reads; null pointers where nothing will read them), each
  chunk's start and end state, and bit 1 of ``non_finite`` for NaN/inf in the input;
- ``chunk_repair`` (a Jacobi pass over the ``stored_`` outputs, run a fixed number of times, the
  ends double-buffered): a chunk whose start differs from the previous chunk's end reruns from it
  until its state meets the stored trajectory's bit for bit (that trajectory recomputed beside it
  from the chunk's old start: the stored bits, without reading them back);
- ``chunk_first_wrong``: per neuron, the first chunk whose start still differs from the previous
  chunk's end (``atomicMin``); the last repair pass finds the same itself, so this runs only
  without repairs;
- ``chunk_finish``: one thread per neuron walks the chunks from there in order, rerunning the
  wrong ones from their true start (sequential where chunks never meet), and writes the final state.

The backward (``chunk_backward_*``) runs the fused backward kernel's step (``backward_step``)
by chunks: each chunk's carry map, the carries chained per neuron over the chunks, each chunk
rerun from its carry. Nothing waits for the host. The forward step is the fused kernels'
``neuron_update`` (``fused/source.py``, the reference's arithmetic with explicit rounding), so
spikes and states equal the ``'torch'`` loop's bit for bit; gradients equal the fused backward
kernel's to rounding (the same products, summed in another order).
"""

from __future__ import annotations

from ..fused.source import KernelSpec, backward_step_source, prelude

_CHUNKED = r"""
// the state before a chunk other than the first, before the chunks are repaired
#define GUESS_V (HARD_RESET ? v_reset : (acc_t)0)
#define RERUN_BATCH 8  // steps a rerun loads at once

struct Neuron { acc_t a, u, ar, c, v_reset; bool save_r; };

__device__ __forceinline__ Neuron neuron_at(
    const long long i, const long long n, const acc_t* constants, const acc_t* r0, const acc_t v_reset,
    const int save_every_r) {
  Neuron q;
  q.a = constants[i]; q.u = constants[n + i]; q.ar = constants[2 * n + i]; q.c = constants[3 * n + i];
  q.v_reset = v_reset;
  q.save_r = save_every_r || has_trace(q.c, initial(r0, i), q.ar);  // else r stays 0: not stored, not read
  return q;
}

// Rerun steps [t0, stop) of neuron i from (v, r), overwriting the stored spikes, h and r, up to and
// including the first step whose state equals the stored trajectory's after it (from there on the
// stored steps are this trajectory). The stored trajectory is recomputed beside it from its start
// (v_old, r_old), by the same arithmetic, so its states are the stored bits and nothing stored is
// read. Returns whether it met them; v, r: the state after the last step run.
__device__ bool rerun(
    const io_t* x, io_t* spikes, acc_t* h_seq, acc_t* r_seq, const Neuron q, const long long i, const long long n,
    const long long t0, const long long stop, acc_t& v, acc_t& r, acc_t v_old, acc_t r_old) {
  for (long long first = t0; first < stop; first += RERUN_BATCH) {
    // RERUN_BATCH steps of input loaded at once (in flight together), then run in order; past the
    // chunk's end its last step is read again, not used
    io_t xs[RERUN_BATCH];
#pragma unroll
    for (int b = 0; b < RERUN_BATCH; ++b) xs[b] = x[min(first + b, stop - 1) * n + i];
#pragma unroll
    for (int b = 0; b < RERUN_BATCH; ++b) {
      if (first + b < stop) {
        const long long at = (first + b) * n + i;
        const acc_t xt = load_io(xs[b]);
        acc_t h, h_old;
        const bool s = neuron_update(xt, q.a, q.u, q.ar, q.c, q.v_reset, h, v, r);
        neuron_update(xt, q.a, q.u, q.ar, q.c, q.v_reset, h_old, v_old, r_old);
        const bool met = v == v_old && r == r_old;
        spikes[at] = store_io(s ? (acc_t)1 : (acc_t)0);
        if (h_seq) h_seq[at] = h;
        if (q.save_r && r_seq) r_seq[at] = r;
        if (met) return true;
      }
    }
  }
  return false;
}

extern "C" __global__ void chunk_speculate(
    const io_t* __restrict__ x, io_t* __restrict__ spikes, acc_t* __restrict__ h_seq, acc_t* __restrict__ r_seq,
    const acc_t* __restrict__ constants, const acc_t* __restrict__ v0, const acc_t* __restrict__ r0,
    acc_t* __restrict__ start_v, acc_t* __restrict__ start_r, acc_t* __restrict__ end_v, acc_t* __restrict__ end_r,
    int* __restrict__ first_wrong, const long long steps, const long long n, const long long chunk,
    const acc_t v_reset, const int save_every_r, int* __restrict__ non_finite) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x, chunks = (steps + chunk - 1) / chunk;
  if (id >= chunks * n) return;
  const long long k = id / n, i = id % n;
  if (k == 0) first_wrong[i] = (int)chunks;  // none yet: chunk_first_wrong lowers it
  const Neuron q = neuron_at(i, n, constants, r0, v_reset, save_every_r);
  acc_t v = k == 0 ? initial(v0, i) : GUESS_V, r = k == 0 ? initial(r0, i) : (acc_t)0;
  start_v[id] = v;
  start_r[id] = r;
  bool finite = true;
  const long long stop = min(steps, k * chunk + chunk);
#pragma unroll 4
  for (long long t = k * chunk; t < stop; ++t) {  // unrolled: the loads of several steps in flight at once
    const acc_t xt = load_io(x[t * n + i]);
    finite &= isfinite(xt);
    acc_t h;
    const bool s = neuron_update(xt, q.a, q.u, q.ar, q.c, q.v_reset, h, v, r);
    spikes[t * n + i] = store_io(s ? (acc_t)1 : (acc_t)0);
    if (h_seq) h_seq[t * n + i] = h;
    if (q.save_r && r_seq) r_seq[t * n + i] = r;
  }
  end_v[id] = v;
  end_r[id] = r;
  if (!finite && non_finite) atomicOr(non_finite, 1);
}

extern "C" __global__ void chunk_repair(
    const io_t* __restrict__ x, io_t* __restrict__ stored_spikes, acc_t* __restrict__ stored_h,
    acc_t* __restrict__ stored_r,
    const acc_t* __restrict__ constants, const acc_t* __restrict__ r0,
    acc_t* __restrict__ start_v, acc_t* __restrict__ start_r, const acc_t* __restrict__ end_v,
    const acc_t* __restrict__ end_r, acc_t* __restrict__ next_end_v, acc_t* __restrict__ next_end_r,
    const long long steps, const long long n, const long long chunk, const acc_t v_reset, const int save_every_r,
    int* __restrict__ first_wrong) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x, chunks = (steps + chunk - 1) / chunk;
  if (id >= chunks * n) return;
  const long long k = id / n, i = id % n;
  acc_t v_end = end_v[id], r_end = end_r[id];
  if (k > 0) {
    acc_t v = end_v[id - n], r = end_r[id - n];
    const acc_t v_old = start_v[id], r_old = start_r[id];  // the stored chunk's start
    if (!(v == v_old && r == r_old)) {
      start_v[id] = v;
      start_r[id] = r;
      const Neuron q = neuron_at(i, n, constants, r0, v_reset, save_every_r);
      const long long stop = min(steps, k * chunk + chunk);
      if (!rerun(x, stored_spikes, stored_h, stored_r, q, i, n, k * chunk, stop, v, r, v_old, r_old)) {
        v_end = v;
        r_end = r;
      }
    }
  }
  next_end_v[id] = v_end;
  next_end_r[id] = r_end;
  // On the last pass (first_wrong given): after it, chunk k + 1 starts from this chunk's end before
  // the pass, so it is wrong exactly where that end moved (chunk_first_wrong's test, without a launch)
  if (first_wrong && k + 1 < chunks && !(v_end == end_v[id] && r_end == end_r[id])) {
    atomicMin(first_wrong + i, (int)(k + 1));
  }
}

extern "C" __global__ void chunk_first_wrong(
    const acc_t* __restrict__ start_v, const acc_t* __restrict__ start_r, const acc_t* __restrict__ end_v,
    const acc_t* __restrict__ end_r, int* __restrict__ first_wrong, const long long steps, const long long n,
    const long long chunk) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= (steps + chunk - 1) / chunk * n) return;
  const long long k = id / n, i = id % n;
  if (k > 0 && !(end_v[id - n] == start_v[id] && end_r[id - n] == start_r[id])) atomicMin(first_wrong + i, (int)k);
}

extern "C" __global__ void chunk_finish(
    const io_t* __restrict__ x, io_t* __restrict__ stored_spikes, acc_t* __restrict__ stored_h,
    acc_t* __restrict__ stored_r,
    const acc_t* __restrict__ constants, const acc_t* __restrict__ r0,
    const acc_t* __restrict__ start_v, const acc_t* __restrict__ start_r, const acc_t* __restrict__ end_v,
    const acc_t* __restrict__ end_r, const int* __restrict__ first_wrong, acc_t* __restrict__ final_state,
    const long long steps, const long long n, const long long chunk,
    const acc_t v_reset, const int save_every_r) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long long chunks = (steps + chunk - 1) / chunk, first = first_wrong[i];
  const Neuron q = neuron_at(i, n, constants, r0, v_reset, save_every_r);
  acc_t v = end_v[(first - 1) * n + i], r = end_r[(first - 1) * n + i];  // exact: chunks before first are
  for (long long k = first; k < chunks; ++k) {
    const long long at = k * n + i;
    if (!(v == start_v[at] && r == start_r[at])) {
      acc_t v_run = v, r_run = r;
      const long long stop = min(steps, k * chunk + chunk);
      if (!rerun(x, stored_spikes, stored_h, stored_r, q, i, n, k * chunk, stop, v_run, r_run, start_v[at],
                 start_r[at])) {
        v = v_run;
        r = r_run;
        continue;
      }
    }
    v = end_v[at];
    r = end_r[at];
  }
  final_state[i] = v;  // [2, n]: v, r
  final_state[n + i] = r;
}
"""

# the backward kernels' first parameters: incoming gradients, saved forward, constants
_BACKWARD_ARGUMENTS = """
    const io_t* __restrict__ g_spikes, const acc_t* __restrict__ g_h, const acc_t* __restrict__ g_r,
    const acc_t* __restrict__ h_seq, const acc_t* __restrict__ r_seq,
    const acc_t* __restrict__ constants,  // [4, n]: tau, threshold, tau_r, refractory
    const acc_t* __restrict__ r0"""

_BACKWARD = r"""
// The backward by chunks of time. Per chunk, the BPTT carry (lam_v, lam_r1) it hands to the chunk
// before is affine in the carry it receives: out = M in + b. chunk_backward_transfer finds M (two unit
// carries without incoming gradients) and b (zero carry with them), all chunks in parallel;
// chunk_backward_carries chains them per neuron from the last chunk; chunk_backward_apply reruns every
// chunk from its carry, writing dL/dx and per-chunk sums of the parameter gradients.
extern "C" __global__ void chunk_backward_transfer(
    CHUNK_BACKWARD_ARGS, acc_t* __restrict__ transfer,  // [6, chunks, n]: M00, M10, M01, M11, b0, b1
    const long long steps, const long long n, const long long chunk, const acc_t v_reset, const int grads) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x, chunks = (steps + chunk - 1) / chunk;
  if (id >= chunks * n) return;
  const long long k = id / n, i = id % n;
  const acc_t a = constants[i], u = constants[n + i], ar = constants[2 * n + i], c = constants[3 * n + i];
  const acc_t r_init = initial(r0, i);
  const bool trace = has_trace(c, r_init, ar);
  acc_t v_of_v = 1, r_of_v = 0, v_of_r = 0, r_of_r = 1, v_b = 0, r_b = 0;
#pragma unroll 4
  for (long long t = min(steps, k * chunk + chunk) - 1; t >= k * chunk; --t) {
    Step q = load_step(t, n, i, grads, g_spikes, g_h, g_r, h_seq, r_seq, r_init, trace);
    backward_step(q, HAS_G_SPIKES ? load_io(q.gs) : (acc_t)0, a, u, ar, c, v_reset, v_b, r_b);
    q.gh = q.gr = 0;
    backward_step(q, (acc_t)0, a, u, ar, c, v_reset, v_of_v, r_of_v);
    backward_step(q, (acc_t)0, a, u, ar, c, v_reset, v_of_r, r_of_r);
  }
  const long long size = chunks * n;
  transfer[id] = v_of_v;
  transfer[size + id] = r_of_v;
  transfer[2 * size + id] = v_of_r;
  transfer[3 * size + id] = r_of_r;
  transfer[4 * size + id] = v_b;
  transfer[5 * size + id] = r_b;
}

extern "C" __global__ void chunk_backward_carries(
    const acc_t* __restrict__ g_final, const acc_t* __restrict__ transfer,  // g_final: dL/d(final v, r) [2, n]
    acc_t* __restrict__ carries,  // [2, chunks, n]: the carry each chunk receives
    const long long steps, const long long n, const long long chunk, const int grads) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, chunks = (steps + chunk - 1) / chunk;
  if (i >= n) return;
  const long long size = chunks * n;
  acc_t lam_v = HAS_G_FINAL ? g_final[i] : (acc_t)0, lam_r1 = HAS_G_FINAL ? g_final[n + i] : (acc_t)0;
#pragma unroll 8
  for (long long k = chunks - 1; k >= 0; --k) {  // unrolled: the loads of several chunks in flight at once
    const long long at = k * n + i;
    carries[at] = lam_v;
    carries[size + at] = lam_r1;
    const acc_t v = transfer[at] * lam_v + transfer[2 * size + at] * lam_r1 + transfer[4 * size + at];
    lam_r1 = transfer[size + at] * lam_v + transfer[3 * size + at] * lam_r1 + transfer[5 * size + at];
    lam_v = v;
  }
}

extern "C" __global__ void chunk_backward_apply(
    CHUNK_BACKWARD_ARGS, const acc_t* __restrict__ v0, const acc_t* __restrict__ carries,
    io_t* __restrict__ g_x, acc_t* __restrict__ partial_grads,  // [4, chunks, n]: tau, threshold, tau_r, refractory
    acc_t* __restrict__ g_params,  // [6, n] (or null, and partial_grads too): rows 4 and 5 (v0, r0) by chunk 0
    const long long steps, const long long n, const long long chunk, const acc_t v_reset, const int grads) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x, chunks = (steps + chunk - 1) / chunk;
  if (id >= chunks * n) return;
  const long long k = id / n, i = id % n, size = chunks * n, first = k * chunk;
  const acc_t a = constants[i], u = constants[n + i], ar = constants[2 * n + i], c = constants[3 * n + i];
  const acc_t r_init = initial(r0, i);
  const bool trace = has_trace(c, r_init, ar);
  acc_t lam_v = carries[id], lam_r1 = carries[size + id], lam_h1 = 0;
  ParamGrads g = {0, 0, 0, 0};
#pragma unroll 4
  for (long long t = min(steps, first + chunk) - 1; t >= first; --t) {
    const Step q = load_step(t, n, i, grads, g_spikes, g_h, g_r, h_seq, r_seq, r_init, trace);
    const Adjoint d = backward_step(q, HAS_G_SPIKES ? load_io(q.gs) : (acc_t)0, a, u, ar, c, v_reset, lam_v, lam_r1);
    if (HAS_G_X) g_x[t * n + i] = store_io(d.lam_h);
    add_param_grads(g, d, lam_h1, q.rp);
    lam_h1 = d.lam_h;
  }
  acc_t v_before = initial(v0, i);  // v before the chunk's first step: tau's last term, dL/dh[first] v[first - 1]
  if (k > 0) {
    const Step q = load_step(first - 1, n, i, 0, g_spikes, g_h, g_r, h_seq, r_seq, r_init, trace);
    v_before = reset_value(q.h, at_least(excess(q.h, u, q.rp, true), (acc_t)0), u, v_reset);
  }
  if (!g_params) return;  // no constant or initial state wants a gradient
  partial_grads[id] = g.a + lam_h1 * v_before;
  partial_grads[size + id] = g.u;
  partial_grads[2 * size + id] = g.ar;
  partial_grads[3 * size + id] = g.c;
  if (k == 0) {
    g_params[4 * n + i] = lam_v;
    g_params[5 * n + i] = lam_r1;
  }
}
"""


def chunked_source(spec: KernelSpec) -> str:
    """The chunked kernels for one ``KernelSpec`` over the fused kernels' shared prelude and backward step."""
    backward = _BACKWARD.replace("CHUNK_BACKWARD_ARGS", _BACKWARD_ARGUMENTS)
    return prelude(spec) + _CHUNKED + backward_step_source() + backward
