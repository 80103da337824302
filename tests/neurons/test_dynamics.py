"""The step equations against traces worked out by hand from the papers' equations."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron


def _run(neuron, xs):
    x = torch.tensor(xs, dtype=torch.float64).reshape(-1, 1)
    result = neuron.double()(x, record=True)
    return result.spikes.flatten().tolist(), result.v_seq.flatten().tolist(), result.r_seq.flatten().tolist()


def test_srr_hand_trace() -> None:
    # tau = tau_r = 0.5, U_th = v_th = 1:
    # t1 h=1.2  z=0.2 fire v=0.2 r=1 | t2 h=1.05 z=-0.95 rest (refractory) v=1.05 r=0.5
    # t3 h=2.025 z=0.525 fire v=1.025 r=1.25 | t4 h=0.7125 z=-1.5375 rest v=0.7125 r=0.625
    # t5 h=2.35625 z=0.73125 fire v=1.35625 r=1.3125
    spikes, v, r = _run(SRRNeuron(tau=0.5, tau_r=0.5, u_th=1.0, v_th=1.0), [1.2, 0.95, 1.5, 0.2, 2.0])
    assert spikes == [1, 0, 1, 0, 1]
    assert v == pytest.approx([0.2, 1.05, 1.025, 0.7125, 1.35625], abs=1e-12)
    assert r == pytest.approx([1.0, 0.5, 1.25, 0.625, 1.3125], abs=1e-12)


def test_srr_without_refractory_fires_where_the_refractory_one_rests() -> None:
    # Same input, v_th = 0: t2 h = 0.1 + 0.95 = 1.05 >= 1 fires; the refractory trace stopped it above.
    spikes, _, r = _run(SRRNeuron(tau=0.5, tau_r=0.5, u_th=1.0, v_th=0.0), [1.2, 0.95, 1.5, 0.2, 2.0])
    assert spikes[:2] == [1, 1]
    assert r == [0.0] * 5


def test_srr_fires_at_exactly_the_threshold() -> None:
    spikes, v, _ = _run(SRRNeuron(tau=0.5, u_th=1.0, v_th=0.0), [1.0, 0.5])
    assert spikes == [1, 0] and v == [0.0, 0.5]  # H(0) = 1, soft reset to 0


def test_reset_lif_hard_and_soft_hand_traces() -> None:
    xs = [0.6, 0.8, 0.3, 1.5, -0.5, 1.2]
    # hard: u = 0.6 | 1.1 fire -> 0 | 0.3 | 1.65 fire -> 0 | -0.5 | 0.95
    spikes, v, _ = _run(ResetLIFNeuron(tau=0.5, v_threshold=1.0, reset="hard"), xs)
    assert spikes == [0, 1, 0, 1, 0, 0]
    assert v == pytest.approx([0.6, 0.0, 0.3, 0.0, -0.5, 0.95], abs=1e-12)
    # soft: 0.6 | 1.1 fire -> 0.1 | 0.35 | 1.675 fire -> 0.675 | -0.1625 | 1.11875 fire -> 0.11875
    spikes, v, _ = _run(ResetLIFNeuron(tau=0.5, v_threshold=1.0, reset="soft"), xs)
    assert spikes == [0, 1, 0, 1, 0, 1]
    assert v == pytest.approx([0.6, 0.1, 0.35, 0.675, -0.1625, 0.11875], abs=1e-12)


def test_hard_reset_to_a_nonzero_potential() -> None:
    spikes, v, _ = _run(ResetLIFNeuron(tau=0.5, v_threshold=1.0, v_reset=-0.5), [1.5, 0.5])
    assert spikes == [1, 0] and v == pytest.approx([-0.5, 0.25])
