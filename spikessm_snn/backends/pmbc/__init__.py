"""Backend ``'pmbc'``: parallel max-min boundary compression (SPikE-SSM), exact.

Soft-reset neurons (SRR, soft ResetLIF) have a spike condition that only gets harder with
more earlier spikes (``srr-and-pmbc.md``), so bounding each undecided margin with the undecided
spikes all 0 and all 1 decides steps for certain; ``compression.py`` does that on the
undecided steps only and finishes the last ones with a short sequential pass; ``autograd.py``
adds the BPTT backward as a reverse scan (the loop's gradient to rounding; no second derivative).

Exact means equal to the ``'torch'`` loop bit for bit in the spikes, in float32 as in float64:
margins inside a rounding band, which the bounds cannot decide for the loop's arithmetic, are
*settled*: that neuron is recomputed by an exact loop (the fused kernel on GPU where CuPy is
installed, else the reference). Hard reset is not monotone in earlier spikes for negative
inputs, so hard-reset neurons are all settled (``stats['settled'] == neurons``): exact, not
faster. The work runs in float64, where a state that overflows the loop's dtype stays finite:
such a state is reported (``check_finite``), never answered silently. ``result.stats`` reports
``iterations`` (bounding passes), ``finish_steps`` (steps of the sequential finish), ``settled``
and ``neurons``.
"""

from __future__ import annotations

from torch import Tensor

from ...neurons.checks import check_finite_values
from ...neurons.dynamics import NeuronParameters, NeuronState
from ...neurons.surrogate import SpikeFunction, Surrogate
from ..result import MultiStepResult
from .autograd import PMBCFunction, exact_sequential


def run_pmbc(
    x_seq: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = False,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` -> the reference's spikes, by compression (soft reset) or settling;
    with ``check_finite``, NaN/inf in ``x_seq`` and a state that overflows its dtype raise."""
    if p.hard_reset:
        result = exact_sequential(x_seq)(x_seq, state, p, spike_fn, detach_reset, record, check_finite)
        neurons = x_seq[0].numel()
        return result._replace(stats={"iterations": 0, "finish_steps": 0, "settled": neurons, "neurons": neurons})
    steps, step_shape = x_seq.shape[0], x_seq.shape[1:]

    def per_neuron(value: Tensor) -> Tensor:
        return value.expand(step_shape).reshape(-1)

    if check_finite:
        check_finite_values(x_seq)
    stats: dict[str, int] = {}
    spikes, v_seq, r_seq = PMBCFunction.apply(
        x_seq.reshape(steps, -1),
        *(per_neuron(value) for value in (p.tau, p.threshold, p.tau_r, p.refractory)),
        state.v.reshape(-1),
        state.r.reshape(-1),
        spike_fn,
        detach_reset,
        check_finite,
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
