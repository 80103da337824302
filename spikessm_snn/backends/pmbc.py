"""Backend ``'pmbc'``: parallel max-min boundary compression (SPikE-SSM), exact.

Soft-reset neurons (SRR, soft ResetLIF) have a spike condition that only gets harder with
more earlier spikes (``srr-and-pmbc.md``): with ``sigma`` a spike train,
``margin[t] = tau v[t-1] + x[t] - U - r[t-1]`` where ``v = scan_tau(x - U sigma)`` and
``r = scan_tau_r(c sigma)``. Each iteration bounds every undecided position's margin from
above (undecided spikes set to 0) and below (set to 1), with four parallel scans
(``scan.decay_scan``), and decides what the bounds settle; the first undecided position of
each neuron has equal bounds, so every iteration decides at least one position per neuron.
Work shrinks as it goes: only undecided neurons, and only from the earliest undecided step.

Exact means equal to the ``'torch'`` loop bit for bit in the spikes. The bounds are computed in
float64; a position is decided only when its margin clears 0 by more than a first-order bound
on the loop's rounding in the input dtype plus ours (``_rounding_guard``, with a factor 2).
A neuron whose first undecided margin lies inside that band, and every neuron still undecided
after ``MAX_ITERATIONS``, is *settled*: its whole sequence is recomputed by an exact loop (the
fused kernel on GPU where CuPy is installed, else the reference).
Hard reset is not monotone in earlier spikes for negative inputs, so hard-reset neurons are
all settled (``stats['settled'] == neurons``): exact, not faster. ``result.stats`` reports
``iterations``, ``settled`` and ``neurons``.

Backward: the reference's BPTT given the spikes is a linear recurrence backwards in time in
``(dL/dv, dL/dr)`` with per-step 2x2 coefficients (the surrogate derivative at each step),
computed by ``scan.reverse_affine_scan``: the same gradient as the loop's, summed in another
order (float32 at least; float64 for float64 input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..neurons.dynamics import NeuronParameters, NeuronState, charge, firing_margin, previous
from ..neurons.surrogate import SpikeFunction, Surrogate
from .fused import cupy_missing, run_fused
from .reference import run_reference
from .result import MultiStepResult
from .scan import decay_scan, reverse_affine_scan

MAX_ITERATIONS = 64
_GUARD_SAFETY = 2.0


class _PerNeuron(NamedTuple):
    """The constants expanded to one value per neuron, ``[N]``."""

    tau: Tensor
    threshold: Tensor
    tau_r: Tensor
    refractory: Tensor

    def take(self, index: Tensor) -> _PerNeuron:
        return _PerNeuron(*(value[index] for value in self))


def _unit_roundoff(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps / 2


def _paired_scan(decays: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor], y0: tuple[Tensor, Tensor]):
    """Two ``decay_scan``s side by side in one call (fewer, larger kernels)."""
    n = b[0].shape[1]
    y = decay_scan(torch.cat(decays), torch.cat(b, dim=1), torch.cat(y0))
    return y[:, :n], y[:, n:]


def _margins(x: Tensor, v: Tensor, r: Tensor, n: _PerNeuron, v0: Tensor, r0: Tensor) -> Tensor:
    """The firing margin of every step ``[T, N]`` given the states ``v``, ``r`` after each step."""
    return firing_margin(charge(x, previous(v, v0), n.tau), n.threshold, previous(r, r0))


def _trajectory(x: Tensor, sigma: Tensor, n: _PerNeuron, v0: Tensor, r0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Margins, ``v`` and ``r`` ``[T, N]`` when the spikes are ``sigma`` (soft reset)."""
    v, r = _paired_scan((n.tau, n.tau_r), (x - n.threshold * sigma, n.refractory * sigma), (v0, r0))
    return _margins(x, v, r, n, v0, r0), v, r


def _rounding_guard(x: Tensor, n: _PerNeuron, v0: Tensor, r0: Tensor, input_dtype: torch.dtype) -> Tensor:
    """Bound ``[T, N]`` on |loop margin (input dtype) - our margin (float64)|, first order.

    With ``V >= |v|, |h|`` and ``R >= |r|``: the loop's ``v`` error grows by ``3u V`` a step and
    decays with ``tau``, its ``r`` error by ``2u R`` decaying with ``tau_r``, and forming the
    margin adds ``u (3V + 2U + R)``; ours is the same with float64's ``u`` and a factor 64 for
    the chunked sums.
    """
    zeros = torch.zeros_like(v0)
    decays = (n.tau, n.tau_r)
    magnitude_v, magnitude_r = _paired_scan(decays, (x.abs() + n.threshold, n.refractory.expand_as(x)),
                                            (v0.abs(), r0.abs()))  # fmt: skip
    drift_v, drift_r = _paired_scan(decays, (magnitude_v, magnitude_r), (zeros, zeros))
    shape = 3 * n.tau * previous(drift_v, zeros) + 2 * previous(drift_r, zeros) + 3 * magnitude_v
    shape = shape + 2 * n.threshold + previous(magnitude_r, r0.abs())
    rounding = _unit_roundoff(input_dtype) + 64 * _unit_roundoff(torch.float64)
    return _GUARD_SAFETY * rounding * shape


def _first_true(mask: Tensor) -> Tensor:
    """Index of the first True along time for each neuron, ``T`` where there is none."""
    steps = mask.shape[0]
    first = mask.to(torch.uint8).argmax(0)
    return torch.where(mask.any(0), first, torch.full_like(first, steps))


def _bound_spikes(x: Tensor, n: _PerNeuron, v0: Tensor, r0: Tensor, guard: Tensor) -> tuple[Tensor, Tensor, int]:
    """Spikes ``[T, N]`` decided by compression, the neurons left to settle ``[N]``, iterations."""
    steps, neurons = x.shape
    known = torch.full((steps, neurons), -1, dtype=torch.int8, device=x.device)
    settle = torch.zeros(neurons, dtype=torch.bool, device=x.device)
    active = torch.arange(neurons, device=x.device)
    start, v_start, r_start, iterations = 0, v0, r0, 0
    while active.numel() and iterations < MAX_ITERATIONS:
        iterations += 1
        window = (slice(start, None), active)
        ks, nn, g, xs = known[window], n.take(active), guard[window], x[window]
        first_before = _first_true(ks < 0)
        both = _PerNeuron(*(torch.cat([value, value]) for value in nn))  # upper and lower bound side by side
        sigma = torch.cat([(ks == 1), (ks != 0)], dim=1).to(x.dtype)  # undecided as 0, then as 1
        margins, v_both, r_both = _trajectory(xs.repeat(1, 2), sigma, both, v_start.repeat(2), r_start.repeat(2))
        width = ks.shape[1]
        upper, lower, v_up, r_up = margins[:, :width], margins[:, width:], v_both[:, :width], r_both[:, :width]
        unknown = ks < 0
        ks = torch.where(unknown & (lower >= g), 1, torch.where(unknown & (upper < -g), 0, ks)).to(torch.int8)
        known[window] = ks
        first_after = _first_true(ks < 0)
        undecided = first_after < ks.shape[0]
        stuck = undecided & (first_after == first_before)  # its frontier margin is inside the guard band
        settle[active[stuck]] = True
        keep = undecided & ~stuck
        if not bool(keep.any()):
            active = active[keep]
            break
        # v_up, r_up are exact up to each neuron's frontier as it stood before this iteration
        advance = int(first_before[keep].min())
        if advance > 0:
            v_start, r_start = v_up[advance - 1], r_up[advance - 1]
        active, v_start, r_start = active[keep], v_start[keep], r_start[keep]
        start += advance
    settle[active] = True
    return known == 1, settle, iterations


def _exact_sequential(x: Tensor) -> Callable[..., MultiStepResult]:
    """The fastest loop that is bit-exact with the reference here: the fused kernel on a CUDA
    float32/float64 input where CuPy is installed, else the reference itself."""
    fused_ok = x.is_cuda and x.dtype in (torch.float32, torch.float64) and cupy_missing() is None
    return run_fused if fused_ok else run_reference


def _settle(
    x: Tensor, v0: Tensor, r0: Tensor, p: _PerNeuron, index: Tensor, spike_fn: SpikeFunction
) -> tuple[Tensor, Tensor, Tensor]:
    """The exact loop, in the input dtype, over the neurons ``index``: spikes, v, r ``[T, n]``."""
    params = NeuronParameters(*(value[index].to(x.dtype) for value in p), hard_reset=False, v_reset=0.0)
    state = NeuronState(v0[index].to(x.dtype), r0[index].to(x.dtype))
    with torch.no_grad():
        result = _exact_sequential(x)(x[:, index], state, params, spike_fn, record=True)
    return result.spikes, result.v_seq, result.r_seq


class _PMBCFunction(torch.autograd.Function):
    """``x [T, N], per-neuron constants [N], v0, r0 [N] -> spikes, v_seq, r_seq [T, N]``."""

    @staticmethod
    def forward(ctx: Any, x, tau, threshold, tau_r, refractory, v0, r0, surrogate, detach_reset, stats):
        wide = torch.float64
        n = _PerNeuron(tau.to(wide), threshold.to(wide), tau_r.to(wide), refractory.to(wide))
        x64, v0_64, r0_64 = x.to(wide), v0.to(wide), r0.to(wide)
        guard = _rounding_guard(x64, n, v0_64, r0_64, x.dtype)
        spikes, settle, iterations = _bound_spikes(x64, n, v0_64, r0_64, guard)
        spikes = spikes.to(wide)
        _, v, r = _trajectory(x64, spikes, n, v0_64, r0_64)
        index = settle.nonzero().squeeze(1)
        if index.numel():
            s_exact, v_exact, r_exact = _settle(x, v0, r0, n, index, surrogate)
            spikes[:, index], v[:, index], r[:, index] = s_exact.to(wide), v_exact.to(wide), r_exact.to(wide)
        stats.update(iterations=iterations, settled=int(index.numel()), neurons=x.shape[1])
        margin = _margins(x64, v, r, n, v0_64, r0_64)
        out = spikes.to(x.dtype), v.to(x.dtype), r.to(x.dtype)
        ctx.save_for_backward(out[0], v, r, margin, v0_64, r0_64, *n)
        ctx.surrogate, ctx.detach_reset, ctx.dtype = surrogate, detach_reset, x.dtype
        return out

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor, g_v: Tensor, g_r: Tensor):
        spikes, v, r, margin, v0, r0, tau, threshold, tau_r, refractory = ctx.saved_tensors
        work = torch.float64 if ctx.dtype == torch.float64 else torch.float32
        cast = [t.to(work) for t in (spikes, v, r, margin, v0, r0, tau, threshold, tau_r, refractory)]
        spikes, v, r, margin, v0, r0, tau, threshold, tau_r, refractory = cast
        gs, gv, gr = (torch.zeros_like(v) if g is None else g.to(work) for g in (g_spikes, g_v, g_r))
        k = 0.0 if ctx.detach_reset else 1.0
        psi = ctx.surrogate.derivative(margin).to(work)
        psi_next = torch.cat([psi[1:], torch.zeros_like(psi[:1])])
        gs_next = torch.cat([gs[1:], torch.zeros_like(gs[:1])])
        # (dL/dv[t], dL/dr[t]) = A[t] (dL/dv[t+1], dL/dr[t+1]) + c[t]
        a = (
            tau * (1 - k * threshold * psi_next),
            tau * k * refractory * psi_next,
            k * threshold * psi_next,
            tau_r - k * refractory * psi_next,
        )
        c = (gv + tau * psi_next * gs_next, gr - psi_next * gs_next)
        lam_v, lam_r = reverse_affine_scan(a, c)
        lam_z = psi * (gs + k * (refractory * lam_r - threshold * lam_v))
        lam_h = lam_v + lam_z
        grads = (
            lam_h,
            (lam_h * previous(v, v0)).sum(0),
            (-lam_z - spikes * lam_v).sum(0),
            (lam_r * previous(r, r0)).sum(0),
            (lam_r * spikes).sum(0),
            tau * lam_h[0],
            tau_r * lam_r[0] - lam_z[0],
        )
        return (*(g.to(ctx.dtype) for g in grads), None, None, None)


def run_pmbc(
    x_seq: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` -> the reference's spikes, by compression (soft reset) or settling."""
    if p.hard_reset:
        result = _exact_sequential(x_seq)(x_seq, state, p, spike_fn, detach_reset, record)
        neurons = x_seq[0].numel()
        return result._replace(stats={"iterations": 0, "settled": neurons, "neurons": neurons})
    steps, step_shape = x_seq.shape[0], x_seq.shape[1:]

    def per_neuron(value: Tensor) -> Tensor:
        return value.expand(step_shape).reshape(-1)

    stats: dict[str, int] = {}
    spikes, v_seq, r_seq = _PMBCFunction.apply(
        x_seq.reshape(steps, -1),
        *(per_neuron(value) for value in (p.tau, p.threshold, p.tau_r, p.refractory)),
        state.v.reshape(-1),
        state.r.reshape(-1),
        spike_fn,
        detach_reset,
        stats,
    )
    spikes, v_seq, r_seq = (t.reshape(x_seq.shape) for t in (spikes, v_seq, r_seq))
    final = NeuronState(v_seq[-1], r_seq[-1])
    if not record:
        return MultiStepResult(spikes, final, stats=stats)
    return MultiStepResult(spikes, final, v_seq, r_seq, stats=stats)


def pmbc_unsupported(x_seq: Tensor, p: NeuronParameters, spike_fn: SpikeFunction) -> str | None:
    if not isinstance(spike_fn, Surrogate):
        return "its backward needs the surrogate's derivative: give a surrogate by name or a Surrogate"
    return None
