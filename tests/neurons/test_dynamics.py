"""The step equations against traces worked out by hand from the papers' equations, and SRR
over long random sequences against two formulations written here: a float64 loop and the
unrolled spike condition of ``srr-and-pmbc.md``."""

from __future__ import annotations

import numpy as np
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


SRR_SETTINGS = [(0.5, 0.8, 1.0, 0.5), (0.9, 0.95, 2.0, 0.2), (0.125, 0.3, 0.7, 1.5), (1.0, 0.5, 1.0, 1.0)]


def _srr_loop(x: np.ndarray, tau: float, tau_r: float, u_th: float, v_th: float) -> tuple[np.ndarray, ...]:
    """Spikes, v and r ``[T, N]``: the equations of ``srr-and-pmbc.md`` section 1, one step at a time."""
    v, r = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    spikes, vs, rs = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for t in range(x.shape[0]):
        h = tau * v + x[t]
        spikes[t] = h - u_th - r >= 0
        v = h - u_th * spikes[t]
        r = tau_r * r + v_th * spikes[t]
        vs[t], rs[t] = v, r
    return spikes, vs, rs


def _unrolled_margins(x: np.ndarray, spikes: np.ndarray, tau: float, tau_r: float, u_th: float,
                      v_th: float) -> np.ndarray:  # fmt: skip
    """``X[t] - sum_{j<t} K[t-j] s[j] - U`` with ``X[t] = sum_{i<=t} tau^(t-i) x[i]`` and
    ``K[k] = U tau^k + v_th tau_r^(k-1)``, as matrix products over the whole sequence."""
    lag = np.subtract.outer(np.arange(x.shape[0]), np.arange(x.shape[0]))  # t - j
    past = lag > 0
    decay = np.where(lag >= 0, tau ** np.maximum(lag, 0), 0.0)
    kernel = np.where(past, u_th * tau ** np.maximum(lag, 0) + v_th * tau_r ** np.maximum(lag - 1, 0), 0.0)
    return decay @ x - kernel @ spikes - u_th


@pytest.mark.parametrize(("tau", "tau_r", "u_th", "v_th"), SRR_SETTINGS)
def test_srr_over_long_random_input_equals_a_separate_loop_and_the_unrolled_condition(tau, tau_r, u_th, v_th,
                                                                                      randn) -> None:  # fmt: skip
    x = randn(3000, 6, scale=1.5, mean=0.3)
    result = SRRNeuron(tau=tau, tau_r=tau_r, u_th=u_th, v_th=v_th).double()(x, record=True)
    spikes, v, r = _srr_loop(x.numpy(), tau, tau_r, u_th, v_th)
    assert 0.02 < spikes.mean() < 0.98 and np.unique(np.round(r, 12)).size > 100  # the trace is exercised
    assert np.array_equal(result.spikes.numpy(), spikes)  # the same operations in the same order: bit for bit
    assert np.array_equal(result.v_seq.numpy(), v) and np.array_equal(result.r_seq.numpy(), r)
    margin = _unrolled_margins(x.numpy(), spikes, tau, tau_r, u_th, v_th)  # sums in another order: rounding
    clear = np.abs(margin) > 1e-9 * (1 + np.abs(margin).max())
    assert clear.mean() > 0.999
    assert np.array_equal(result.spikes.numpy()[clear], (margin >= 0)[clear])
