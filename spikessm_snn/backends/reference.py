"""Backend ``'torch'``: the plain time loop over ``neuron_step``, the exact reference.

Differentiable through the surrogate (plain BPTT), any float dtype, any device, any spike
function. Every other backend is tested against this one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..neurons.checks import check_finite_run
from ..neurons.dynamics import NeuronParameters, NeuronState, neuron_step
from ..neurons.surrogate import SpikeFunction
from .result import MultiStepResult


def run_reference(
    x_seq: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = False,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` -> spikes ``[T, B, ...]`` by ``T`` calls of ``neuron_step``; with
    ``check_finite``, NaN/inf in ``x_seq`` or an overflowed state raise (after the loop: one
    reduction of the input and of the final state, which stays non-finite once it overflows)."""
    spikes, vs, rs = [], [], []
    for x in x_seq:
        s, state = neuron_step(x, state, p, spike_fn, detach_reset)
        spikes.append(s)
        if record:
            vs.append(state.v)
            rs.append(state.r)
    if check_finite:
        check_finite_run(x_seq, state)
    if not record:
        return MultiStepResult(torch.stack(spikes), state)
    return MultiStepResult(torch.stack(spikes), state, torch.stack(vs), torch.stack(rs))
