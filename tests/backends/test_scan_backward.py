"""The shared reverse-scan backward against autograd through the reference step (``neuron_step``),
with a gradient given for every output: spikes, ``h``, ``v`` after reset, ``r`` and the last state."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.backends.scan_backward import GRADIENT_NAMES, ForwardRecord, bptt_by_scan
from spikessm_snn.neurons.dynamics import NeuronParameters, NeuronState, charge, firing_margin, neuron_step
from spikessm_snn.neurons.surrogate import surrogate

STEPS, NEURONS = 60, 7


@pytest.mark.parametrize("hard_reset", [False, True])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("name", ["sigmoid", "triangle"])
def test_every_gradient_equals_autograd_through_the_loop(hard_reset, detach_reset, name, randn) -> None:
    spike_fn = surrogate(name)
    uniform = torch.rand(4, NEURONS, dtype=torch.float64, generator=torch.Generator().manual_seed(len(name)))
    leaves = [
        randn(STEPS, NEURONS, scale=0.8, mean=0.3),  # x
        0.3 + 0.7 * uniform[0],  # tau in (0.3, 1]
        0.5 + uniform[1],  # threshold
        0.9 * uniform[2],  # tau_r
        0.6 * uniform[3],  # refractory
        randn(NEURONS, scale=0.5),  # v0
        randn(NEURONS, scale=0.2).abs(),  # r0
    ]
    for leaf in leaves:
        leaf.requires_grad_(True)
    x, tau, threshold, tau_r, refractory, v0, r0 = leaves
    p = NeuronParameters(tau, threshold, tau_r, refractory, hard_reset=hard_reset, v_reset=-0.3)
    state, outputs = NeuronState(v0, r0), {"g_spikes": [], "g_h": [], "g_v": [], "g_r": []}
    margins = []
    for t in range(STEPS):
        h = charge(x[t], state.v, tau)
        margins.append(firing_margin(h, threshold, state.r).detach())
        s, state = neuron_step(x[t], state, p, spike_fn, detach_reset)
        for key, value in zip(outputs, (s, h, state.v, state.r), strict=True):
            outputs[key].append(value)
    sequences = {key: torch.stack(values) for key, values in outputs.items()}
    sequences.update(g_v_last=state.v, g_r_last=state.r)
    grads = {key: randn(*sequences[key].shape) for key in GRADIENT_NAMES}
    loss = sum((grads[key] * sequences[key]).sum() for key in GRADIENT_NAMES)
    expected = torch.autograd.grad(loss, leaves)

    spikes = sequences["g_spikes"].detach()
    assert 0.1 < spikes.mean() < 0.9  # both branches of the reset are exercised
    record = ForwardRecord(torch.stack(margins), spikes, sequences["g_v"].detach(), sequences["g_r"].detach(),
                           sequences["g_h"].detach())  # fmt: skip
    constants = NeuronParameters(*(value.detach() for value in (tau, threshold, tau_r, refractory)),
                                 hard_reset=hard_reset, v_reset=-0.3)  # fmt: skip
    g_x, g_params = bptt_by_scan(record, constants, v0.detach(), r0.detach(), grads, spike_fn, detach_reset)
    for got, want in zip((g_x, *g_params), expected, strict=True):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)


def test_the_hard_reset_without_h_is_refused(randn) -> None:
    seq = randn(5, 3)
    ones = torch.ones(3, dtype=torch.float64)
    p = NeuronParameters(0.5 * ones, ones, 0.5 * ones, ones, hard_reset=True, v_reset=0.0)
    record = ForwardRecord(seq, (seq >= 0).double(), seq, seq)
    with pytest.raises(ValueError, match="needs the charged potentials h"):
        bptt_by_scan(record, p, ones, ones, {"g_spikes": seq}, surrogate("atan"), False)
