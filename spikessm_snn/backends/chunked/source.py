"""CUDA C source of the chunked forward: ``speculation.py``'s three phases, one thread per chunk and neuron.

``x [T, n]`` row-major; chunk ``k`` of neuron ``i`` covers steps ``[k C, min(T, k C + C))`` and
is thread ``k n + i`` (neighbouring threads read neighbouring neurons: coalesced). Kernels, in
launch order:

- ``chunk_speculate``: every chunk from the true start (chunk 0) or the guess, writing spikes,
  ``h`` and ``r`` (what the backward reads, and what later phases compare with), each chunk's
  start and end state, and bit 1 of ``non_finite`` for NaN/inf in the input;
- ``chunk_repair`` (a Jacobi pass over the ``stored_`` outputs, run a fixed number of times, the
  ends double-buffered): a chunk whose start differs from the previous chunk's end reruns from it until its state meets
  the stored one bit for bit (``v`` from the stored ``h`` and spike, and ``r``);
- ``chunk_first_wrong``: per neuron, the first chunk whose start still differs from the previous
  chunk's end (``atomicMin``);
- ``chunk_finish``: one thread per neuron walks the chunks from there in order, rerunning the
  wrong ones from their true start (sequential where chunks never meet), and writes the final state.

Nothing waits for the host. The step is the fused kernels' ``neuron_update`` (``fused/source.py``,
the reference's arithmetic with explicit rounding), so spikes and states equal the ``'torch'``
loop's bit for bit; the backward is the fused backward kernel on the saved ``h`` and ``r``.
"""

from __future__ import annotations

from ..fused.source import KernelSpec, prelude

_CHUNKED = r"""
// the state before a chunk other than the first, before the chunks are repaired
#define GUESS_V (HARD_RESET ? v_reset : (acc_t)0)

struct Neuron { acc_t a, u, ar, c, v_reset; bool save_r; };

__device__ __forceinline__ Neuron neuron_at(
    const long long i, const acc_t* tau, const acc_t* threshold, const acc_t* tau_r, const acc_t* refractory,
    const acc_t* r0, const acc_t v_reset, const int save_every_r) {
  Neuron q;
  q.a = tau[i]; q.u = threshold[i]; q.ar = tau_r[i]; q.c = refractory[i]; q.v_reset = v_reset;
  q.save_r = save_every_r || has_trace(q.c, r0[i], q.ar);  // else r stays 0: not stored, not read
  return q;
}

// Rerun steps [t0, stop) of neuron i from (v, r), overwriting the stored spikes, h and r, up to and
// including the first step whose state equals the stored state after it (from there on the stored
// steps are this trajectory). Returns whether it met them; v, r: the state after the last step run.
__device__ bool rerun(
    const io_t* x, io_t* spikes, acc_t* h_seq, acc_t* r_seq, const Neuron q, const long long i, const long long n,
    const long long t0, const long long stop, acc_t& v, acc_t& r) {
  for (long long t = t0; t < stop; ++t) {
    const long long at = t * n + i;
    acc_t h;
    const bool s = neuron_update(load_io(x[at]), q.a, q.u, q.ar, q.c, q.v_reset, h, v, r);
    const acc_t v_stored = reset_value(h_seq[at], load_io(spikes[at]) != (acc_t)0, q.u, q.v_reset);
    const bool met = v == v_stored && r == (q.save_r ? r_seq[at] : (acc_t)0);
    spikes[at] = store_io(s ? (acc_t)1 : (acc_t)0);
    h_seq[at] = h;
    if (q.save_r) r_seq[at] = r;
    if (met) return true;
  }
  return false;
}

extern "C" __global__ void chunk_speculate(
    const io_t* __restrict__ x, io_t* __restrict__ spikes, acc_t* __restrict__ h_seq, acc_t* __restrict__ r_seq,
    const acc_t* __restrict__ tau, const acc_t* __restrict__ threshold, const acc_t* __restrict__ tau_r,
    const acc_t* __restrict__ refractory, const acc_t* __restrict__ v0, const acc_t* __restrict__ r0,
    acc_t* __restrict__ start_v, acc_t* __restrict__ start_r, acc_t* __restrict__ end_v, acc_t* __restrict__ end_r,
    const long long steps, const long long n, const long long chunk, const acc_t v_reset, const int save_every_r,
    int* __restrict__ non_finite) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= (steps + chunk - 1) / chunk * n) return;
  const long long k = id / n, i = id % n;
  const Neuron q = neuron_at(i, tau, threshold, tau_r, refractory, r0, v_reset, save_every_r);
  acc_t v = k == 0 ? v0[i] : GUESS_V, r = k == 0 ? r0[i] : (acc_t)0;
  start_v[id] = v;
  start_r[id] = r;
  bool finite = true;
  const long long stop = min(steps, k * chunk + chunk);
  for (long long t = k * chunk; t < stop; ++t) {
    const acc_t xt = load_io(x[t * n + i]);
    finite &= isfinite(xt);
    acc_t h;
    const bool s = neuron_update(xt, q.a, q.u, q.ar, q.c, q.v_reset, h, v, r);
    spikes[t * n + i] = store_io(s ? (acc_t)1 : (acc_t)0);
    h_seq[t * n + i] = h;
    if (q.save_r) r_seq[t * n + i] = r;
  }
  end_v[id] = v;
  end_r[id] = r;
  if (!finite && non_finite) atomicOr(non_finite, 1);
}

extern "C" __global__ void chunk_repair(
    const io_t* __restrict__ x, io_t* __restrict__ stored_spikes, acc_t* __restrict__ stored_h,
    acc_t* __restrict__ stored_r,
    const acc_t* __restrict__ tau, const acc_t* __restrict__ threshold, const acc_t* __restrict__ tau_r,
    const acc_t* __restrict__ refractory, const acc_t* __restrict__ r0,
    acc_t* __restrict__ start_v, acc_t* __restrict__ start_r, const acc_t* __restrict__ end_v,
    const acc_t* __restrict__ end_r, acc_t* __restrict__ next_end_v, acc_t* __restrict__ next_end_r,
    const long long steps, const long long n, const long long chunk, const acc_t v_reset, const int save_every_r) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= (steps + chunk - 1) / chunk * n) return;
  const long long k = id / n, i = id % n;
  acc_t v_end = end_v[id], r_end = end_r[id];
  if (k > 0) {
    acc_t v = end_v[id - n], r = end_r[id - n];
    if (!(v == start_v[id] && r == start_r[id])) {
      start_v[id] = v;
      start_r[id] = r;
      const Neuron q = neuron_at(i, tau, threshold, tau_r, refractory, r0, v_reset, save_every_r);
      if (!rerun(x, stored_spikes, stored_h, stored_r, q, i, n, k * chunk, min(steps, k * chunk + chunk), v, r)) {
        v_end = v;
        r_end = r;
      }
    }
  }
  next_end_v[id] = v_end;
  next_end_r[id] = r_end;
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
    const acc_t* __restrict__ tau, const acc_t* __restrict__ threshold, const acc_t* __restrict__ tau_r,
    const acc_t* __restrict__ refractory, const acc_t* __restrict__ r0,
    const acc_t* __restrict__ start_v, const acc_t* __restrict__ start_r, const acc_t* __restrict__ end_v,
    const acc_t* __restrict__ end_r, const int* __restrict__ first_wrong, acc_t* __restrict__ v_state,
    acc_t* __restrict__ r_state, const long long steps, const long long n, const long long chunk,
    const acc_t v_reset, const int save_every_r) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long long chunks = (steps + chunk - 1) / chunk, first = first_wrong[i];
  const Neuron q = neuron_at(i, tau, threshold, tau_r, refractory, r0, v_reset, save_every_r);
  acc_t v = end_v[(first - 1) * n + i], r = end_r[(first - 1) * n + i];  // exact: chunks before first are
  for (long long k = first; k < chunks; ++k) {
    const long long at = k * n + i;
    if (!(v == start_v[at] && r == start_r[at])) {
      acc_t v_run = v, r_run = r;
      const long long stop = min(steps, k * chunk + chunk);
      if (!rerun(x, stored_spikes, stored_h, stored_r, q, i, n, k * chunk, stop, v_run, r_run)) {
        v = v_run;
        r = r_run;
        continue;
      }
    }
    v = end_v[at];
    r = end_r[at];
  }
  v_state[i] = v;
  r_state[i] = r;
}
"""


def chunked_source(spec: KernelSpec) -> str:
    """The chunked forward's kernels for one ``KernelSpec`` (the fused kernels' shared prelude first)."""
    return prelude(spec) + _CHUNKED
