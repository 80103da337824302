"""The chunked forward in torch: speculate every chunk of time, then repair, exactly.

``x [T, N]`` is cut into ``K = ceil(T / C)`` chunks of ``C`` steps (the last one padded):

1. *speculate*: all chunks at once (``C`` steps over ``[K, N]``), chunk 0 from the true initial
   state, the others from a guess (``v = 0`` for soft reset, ``v = v_reset`` for hard reset;
   ``r = 0``), keeping every step's state and each chunk's start;
2. *repair* (Jacobi, at most ``passes`` times, all chunks at once): a chunk whose start differs
   from the previous chunk's end reruns from that end and overwrites its outputs step by step
   until its state equals, bit for bit, the stored one after the same step: the same state
   from then on gives the same steps, so the rest of the chunk is already that trajectory.
   After pass ``p`` the first ``p + 1`` chunks are exact;
3. *finish*: from the first chunk whose start still differs from the true one, walk the chunks
   in order, rerunning each wrong one from its true start until it meets its stored
   trajectory. Where chunks never meet (soft reset with a decay near 1: the difference of two
   starts never rounds away) this is the sequential loop: exact, at its speed.

Hard reset meets at the first step where both trajectories spike (both reset to ``v_reset``,
with equal refractory traces). The steps are ``neuron_step``'s arithmetic, so spikes and
states equal the ``'torch'`` loop's bit for bit. The CUDA kernels (``source.py``) run the same
three phases, one thread per chunk and neuron.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ...neurons.dynamics import NeuronParameters, NeuronState, charge, neuron_step, previous
from ...neurons.surrogate import heaviside

CHUNK_STEPS = 128  # C: steps per chunk (H100 sweep, analysis/results/chunked/sweep: 128 won or tied at 16384-65536)
REPAIR_PASSES = 3  # Jacobi passes before the finish walks the chunks in order


class ChunkedRun(NamedTuple):
    """Spikes, charged potentials ``h`` and traces ``r`` ``[T, N]``, the final ``v`` and ``r`` ``[N]``,
    and what the run took: ``passes`` (repairs that changed something), ``finish_chunks`` (chunks
    the finish reran for some neuron), ``finish_steps`` (steps it reran, summed over the neurons),
    ``finish_steps_worst`` (the most steps it reran for one neuron: the kernels' one thread per
    neuron walks them in order) and ``chunks``."""

    spikes: Tensor
    h: Tensor
    r: Tensor
    v_last: Tensor
    r_last: Tensor
    stats: dict[str, int]


def _rerun(xs: Tensor, out: tuple[Tensor, Tensor, Tensor], state: NeuronState, active: Tensor,
           p: NeuronParameters, walked: Tensor | None = None) -> Tensor:  # fmt: skip
    """Rerun chunks ``xs [k, C, N]`` from ``state`` where ``active [k, N]``, overwriting the stored
    spikes, ``v`` and ``r`` (``out``, each ``[k, C, N]``) up to and including the first step whose
    state equals the stored one; returns where the rerun never met the stored trajectory. Adds the
    steps rerun to ``walked [k, N]`` if given."""
    spikes, v_seq, r_seq = out
    for j in range(xs.shape[1]):
        if walked is not None:
            walked += active
        s, state = neuron_step(xs[:, j], state, p, heaviside)
        met = (state.v == v_seq[:, j]) & (state.r == r_seq[:, j])
        spikes[:, j] = torch.where(active, s, spikes[:, j])
        v_seq[:, j] = torch.where(active, state.v, v_seq[:, j])
        r_seq[:, j] = torch.where(active, state.r, r_seq[:, j])
        active = active & ~met
        if not bool(active.any()):
            break
    return active


def speculate_and_repair(x: Tensor, p: NeuronParameters, v0: Tensor, r0: Tensor, chunk: int | None = None,
                         passes: int | None = None) -> ChunkedRun:  # fmt: skip
    """``x [T, N]``, per-neuron constants ``p`` (each ``[N]``), ``v0, r0 [N]`` -> the loop's
    outputs by the three phases above (no graph); ``chunk`` and ``passes`` default to
    ``CHUNK_STEPS`` and ``REPAIR_PASSES`` as they are at the call."""
    chunk = CHUNK_STEPS if chunk is None else chunk
    passes = REPAIR_PASSES if passes is None else passes
    steps, n = x.shape
    chunks = math.ceil(steps / chunk)
    xs = torch.nn.functional.pad(x, (0, 0, 0, chunks * chunk - steps)).view(chunks, chunk, n)
    out = tuple(torch.full_like(xs, math.nan) for _ in range(3))  # NaN: nothing stored meets yet
    spikes, v_seq, r_seq = out
    guess = p.v_reset if p.hard_reset else 0.0
    start_v = torch.full((chunks, n), guess, dtype=x.dtype, device=x.device)
    start_r = torch.zeros_like(start_v)
    start_v[0], start_r[0] = v0, r0
    _rerun(xs, out, NeuronState(start_v.clone(), start_r.clone()), torch.ones_like(start_v, dtype=torch.bool), p)
    done = 0
    for _ in range(passes):
        end_v, end_r = v_seq[:-1, -1].clone(), r_seq[:-1, -1].clone()
        changed = (end_v != start_v[1:]) | (end_r != start_r[1:])
        if not bool(changed.any()):
            break
        done += 1
        start_v[1:], start_r[1:] = torch.where(changed, end_v, start_v[1:]), torch.where(changed, end_r, start_r[1:])
        active = torch.cat([torch.zeros_like(changed[:1]), changed])
        _rerun(xs, out, NeuronState(start_v.clone(), start_r.clone()), active, p)
    wrong = ((v_seq[:-1, -1] != start_v[1:]) | (r_seq[:-1, -1] != start_r[1:])).any(dim=1)
    first = int(wrong.nonzero()[0]) + 1 if bool(wrong.any()) else chunks
    finished, walked = 0, torch.zeros((1, n), dtype=torch.int64, device=x.device)
    for k in range(first, chunks):
        v, r = v_seq[k - 1, -1], r_seq[k - 1, -1]
        differs = (v != start_v[k]) | (r != start_r[k])
        if bool(differs.any()):
            finished += 1
            start_v[k], start_r[k] = v, r
            _rerun(xs[k : k + 1], tuple(t[k : k + 1] for t in out), NeuronState(v[None], r[None]), differs[None], p,
                   walked)  # fmt: skip
    spikes, v_seq, r_seq = (t.reshape(chunks * chunk, n)[:steps] for t in out)
    h = charge(x, previous(v_seq, v0), p.tau)
    stats = {"passes": done, "finish_chunks": finished, "finish_steps": int(walked.sum()),
             "finish_steps_worst": int(walked.max()), "chunks": chunks}  # fmt: skip
    return ChunkedRun(spikes, h, r_seq, v_seq[-1].clone(), r_seq[-1].clone(), stats)
