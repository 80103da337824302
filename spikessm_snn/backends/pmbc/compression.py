"""PMBC's forward: which steps fire, by bounding the firing margins of the undecided steps.

Soft reset (SRR, soft ResetLIF), per neuron, unrolling the step equations (``srr-and-pmbc.md``)::

    margin[t] = M0[t] - sum_{j<t} K[t-j] s[j],    K[d] = U tau^d + c tau_r^(d-1)  (d >= 1)

with ``M0`` the margin when nothing fires and ``K >= 0``: more earlier spikes only lower a
margin. Every step is known-0, known-1 or undecided (the paper's explicit spiking state); an
iteration bounds each undecided margin from above (undecided spikes as 0: ``base``) and below
(as 1: ``base - sum over undecided j<t of K[t-j]``), and decides what the bounds settle.

Work is done on the undecided steps only: each neuron's undecided steps are packed into a
column of a table ``[rows, columns]`` (``rows``: the most undecided steps of any neuron), the sums
over earlier entries are ``linear_scan``s down the columns with ``rate = gap * (-log decay)``,
the new spikes are folded into ``base`` by one more scan, and the table is packed again.
The first entry of a column has equal bounds, so every iteration decides it unless its margin
lies inside the rounding band. After at least ``MIN_PASSES`` passes, once the table has at most
``FINISH_ROWS`` rows (``FUSED_FINISH_ROWS`` with the Triton finish), or after ``MAX_ITERATIONS``,
a sequential pass down the rows decides the rest exactly, carrying the sum over earlier spikes
as two decayed accumulators: cheaper than bounding the last long stretches one entry an
iteration. ``FINISH_ROWS = 0`` runs the paper's iteration to the end.

On CUDA the scans and the finish run as Triton kernels (``kernels.py``) where Triton is
installed, else as their torch references (``scan.linear_scan``, ``finish_reference``).

Rounding: all of it runs in float64; a step is decided only when its margin clears 0 by more
than ``rounding_guard`` (a first-order bound on the loop's rounding in the input dtype plus
ours). A neuron with a margin inside that band is returned in ``settle``: the caller recomputes
it with an exact loop.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ...neurons.dynamics import charge, firing_margin, previous
from .. import scan
from . import kernels

MAX_ITERATIONS = 64
MIN_PASSES = 1  # bound passes before the finish may start
# Finish once the table has at most this many rows. Torch finish (~11 ops a row): 256, the
# fastest of 0/32/96/256/1024 on the H100 (T = 4096, B*D = 64*256). Triton finish (~1 us a row):
# right after MIN_PASSES, the fastest of 0/64/256/1024/inf there at B*D = 64*256 and 1*256,
# T = 4096 ... 65536 (analysis/results/pmbc_policy_sweep.txt).
FINISH_ROWS = 256
FUSED_FINISH_ROWS = math.inf
GUARD_SAFETY = 2.0


class PerNeuron(NamedTuple):
    """The constants expanded to one value per neuron, ``[N]``."""

    tau: Tensor
    threshold: Tensor
    tau_r: Tensor
    refractory: Tensor

    def take(self, index: Tensor | slice) -> PerNeuron:
        return PerNeuron(*(value[index] for value in self))


def linear_scan(rate: Tensor, b: Tensor, y0: Tensor) -> Tensor:
    """``scan.linear_scan``, by the Triton kernel where it can run."""
    fused = kernels.triton_missing(b) is None
    return (kernels.linear_scan if fused else scan.linear_scan)(rate, b, y0)


def paired_scan(decays: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor], y0: tuple[Tensor, Tensor]):
    """Two decay scans (``y[t] = a y[t-1] + b[t]``) side by side in one call."""
    n = b[0].shape[1]
    y = linear_scan(-torch.log(torch.cat(decays)), torch.cat(b, dim=1), torch.cat(y0))
    return y[:, :n], y[:, n:]


def margins(x: Tensor, v: Tensor, r: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor) -> Tensor:
    """The firing margin of every step ``[T, N]`` given the states ``v``, ``r`` after each step."""
    return firing_margin(charge(x, previous(v, v0), n.tau), n.threshold, previous(r, r0))


def trajectory(x: Tensor, sigma: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Margins, ``v`` and ``r`` ``[T, N]`` when the spikes are ``sigma`` (soft reset)."""
    v, r = paired_scan((n.tau, n.tau_r), (x - n.threshold * sigma, n.refractory * sigma), (v0, r0))
    return margins(x, v, r, n, v0, r0), v, r


def rounding_guard(x: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor, input_dtype: torch.dtype) -> Tensor:
    """Bound ``[T, N]`` on |loop margin (input dtype) - our margin (float64)|, first order.

    With ``V >= |v|, |h|`` and ``R >= |r|``: the loop's ``v`` error grows by ``3u V`` a step and
    decays with ``tau``, its ``r`` error by ``2u R`` decaying with ``tau_r``, and forming the
    margin adds ``u (3V + 2U + R)``; ours is the same with float64's ``u`` and a factor 256 for
    the chunked scans and the up to ``MAX_ITERATIONS`` updates of each margin.
    """
    zeros = torch.zeros_like(v0)
    decays = (n.tau, n.tau_r)
    magnitude_v, magnitude_r = paired_scan(decays, (x.abs() + n.threshold, n.refractory.expand_as(x)),
                                           (v0.abs(), r0.abs()))  # fmt: skip
    drift_v, drift_r = paired_scan(decays, (magnitude_v, magnitude_r), (zeros, zeros))
    shape = 3 * n.tau * previous(drift_v, zeros) + 2 * previous(drift_r, zeros) + 3 * magnitude_v
    shape = shape + 2 * n.threshold + previous(magnitude_r, r0.abs())
    rounding = torch.finfo(input_dtype).eps / 2 + 256 * torch.finfo(torch.float64).eps / 2
    return GUARD_SAFETY * rounding * shape


class _Table(NamedTuple):
    """The undecided steps of the neurons still at work, one column a neuron, packed to the top."""

    step: Tensor  # [rows, cols] int64: the time step of each entry
    gap: Tensor  # [rows, cols] (or [1, 1] when every step is there): steps since the entry above
    base: Tensor  # [rows, cols]: the margin with every undecided spike 0 (upper bound); -inf in padding
    guard: Tensor  # [rows, cols]: the rounding band
    valid: Tensor  # [rows, cols] bool: False in padding
    neuron: Tensor  # [cols]: the neuron of each column

    @property
    def rows(self) -> int:
        return self.base.shape[0]


def _full_table(base: Tensor, guard: Tensor) -> _Table:
    steps, neurons = base.shape
    step = torch.arange(steps, device=base.device).unsqueeze(1).expand(steps, neurons)
    gap = torch.ones(1, 1, dtype=base.dtype, device=base.device)
    valid = torch.ones(1, 1, dtype=torch.bool, device=base.device).expand(steps, neurons)
    return _Table(step, gap, base, guard, valid, torch.arange(neurons, device=base.device))


def _pack(table: _Table, keep: Tensor) -> _Table | None:
    """The entries ``keep`` of each column moved to the top, columns with none dropped."""
    counts = keep.sum(0)
    alive = (counts > 0).nonzero().squeeze(1)
    if alive.numel() == 0:
        return None
    keep, counts = keep[:, alive], counts[alive]
    rows = int(counts.max())
    slot = torch.where(keep, keep.cumsum(0) - 1, rows)  # row `rows` collects what is dropped

    def packed(values: Tensor, fill: float) -> Tensor:
        out = torch.full((rows + 1, alive.numel()), fill, dtype=values.dtype, device=values.device)
        return out.scatter_(0, slot, values[:, alive])[:rows]

    step = packed(table.step, table.step.shape[0])
    gap = (step - previous(step, step[0] - 1)).clamp(min=1).to(table.base.dtype)
    valid = torch.arange(rows, device=keep.device).unsqueeze(1) < counts
    return _Table(step, gap, packed(table.base, -torch.inf), packed(table.guard, 0.0), valid, table.neuron[alive])


def earlier_sums_reference(gap: Tensor, weight: Tensor, tau: Tensor, threshold: Tensor, tau_r: Tensor,
                           refractory: Tensor) -> Tensor:  # fmt: skip
    """``sum_{i<k} weight_i K[step_k - step_i]`` over the entries above each entry ``k`` of a table
    ``[rows, cols]`` whose entries lie ``gap`` steps apart (``gap`` ``[rows, cols]`` or ``[1, 1]``)."""
    rate = torch.cat([gap * -torch.log(tau), gap * -torch.log(tau_r)], dim=1)
    zeros = torch.zeros(rate.shape[1], dtype=torch.float64, device=weight.device)
    y = scan.linear_scan(rate, weight.to(torch.float64).repeat(1, 2), zeros)
    y_v, y_r = previous(y, zeros).chunk(2, dim=1)  # the sums up to the entry above, at its step
    return threshold * tau**gap * y_v + refractory * tau_r ** (gap - 1) * y_r


def _earlier_sums(table: _Table, n: PerNeuron, weight: Tensor) -> Tensor:
    fused = kernels.triton_missing(weight) is None
    return (kernels.earlier_sums if fused else earlier_sums_reference)(table.gap, weight, *n)


def _record(spikes: Tensor, table: _Table, fires: Tensor) -> None:
    row, col = fires.nonzero(as_tuple=True)
    spikes[table.step[row, col], table.neuron[col]] = True


def finish_reference(base: Tensor, gap: Tensor, guard: Tensor, tau: Tensor, threshold: Tensor, tau_r: Tensor,
                     refractory: Tensor) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Decide every entry of a table exactly, row by row (one undecided step per neuron a row):
    fires ``[rows, cols]`` and the columns with a margin inside the band ``[cols]``, bool.
    ``base``, ``gap``, ``guard`` ``[rows, cols]`` (``base`` ``-inf`` in padding), constants ``[cols]``."""
    gap = gap.expand_as(base)
    decay_v, decay_r = tau**gap, tau_r**gap
    coefficient_v, coefficient_r = threshold * decay_v, refractory * tau_r ** (gap - 1)
    acc_v = acc_r = torch.zeros_like(tau)  # sums of the decayed earlier spikes among the entries
    margin = torch.empty_like(base)
    for k in range(base.shape[0]):
        margin[k] = base[k] - coefficient_v[k] * acc_v - coefficient_r[k] * acc_r
        fired = (margin[k] >= 0).to(margin.dtype)
        acc_v, acc_r = decay_v[k] * acc_v + fired, decay_r[k] * acc_r + fired
    in_band = (margin.abs() < guard) & (base > -torch.inf)
    return margin >= 0, in_band.any(0)


def _finish(table: _Table, n: PerNeuron, spikes: Tensor, settle: Tensor) -> None:
    fused = kernels.triton_missing(table.base) is None
    fires, in_band = (kernels.finish if fused else finish_reference)(table.base, table.gap, table.guard, *n)
    settle[table.neuron[in_band]] = True
    _record(spikes, table, fires & table.valid)


def compress(x: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor, guard: Tensor) -> tuple[Tensor, Tensor, dict[str, int]]:
    """Spikes ``[T, N]`` bool, the neurons to settle exactly ``[N]``, and the work done
    (``iterations`` of bounds, ``finish_steps`` of the sequential finish). Float64 inputs."""
    steps, neurons = x.shape
    spikes = torch.zeros(steps, neurons, dtype=torch.bool, device=x.device)
    settle = torch.zeros(neurons, dtype=torch.bool, device=x.device)
    base = trajectory(x, torch.zeros_like(x), n, v0, r0)[0]
    table: _Table | None = _full_table(base, guard)
    finish_rows = FUSED_FINISH_ROWS if kernels.triton_missing(x) is None else FINISH_ROWS
    iterations = 0
    while table is not None and iterations < MAX_ITERATIONS and (iterations < MIN_PASSES or table.rows > finish_rows):
        iterations += 1
        columns = n.take(table.neuron)
        lower = table.base - _earlier_sums(table, columns, table.valid)
        fires = table.valid & (lower >= table.guard)
        undecided = table.valid & ~fires & (table.base >= -table.guard)
        _record(spikes, table, fires)
        stuck = undecided[0]  # a first entry (equal bounds) stays undecided only inside the band
        settle[table.neuron[stuck]] = True
        base = table.base - _earlier_sums(table, columns, fires)
        table = _pack(table._replace(base=base), undecided & ~stuck)
    finish_steps = 0
    if table is not None:
        finish_steps = table.rows
        _finish(table, n.take(table.neuron), spikes, settle)
    return spikes, settle, {"iterations": iterations, "finish_steps": finish_steps}
