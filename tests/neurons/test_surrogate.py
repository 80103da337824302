"""Surrogate spike functions: Heaviside forward, each derivative against SpikingJelly's."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.neurons.surrogate import SURROGATE_NAMES, Surrogate, resolve_spike_function, surrogate


def test_forward_is_heaviside_with_h0_equal_1(randn) -> None:
    z = torch.cat([randn(100), torch.zeros(1, dtype=torch.float64)])
    for name in SURROGATE_NAMES:
        assert torch.equal(surrogate(name)(z), (z >= 0).double())


@pytest.mark.parametrize("name", SURROGATE_NAMES)
def test_backward_is_the_named_derivative(name, randn) -> None:
    z = randn(200, scale=2.0).requires_grad_()
    g = randn(200)
    surrogate(name)(z).backward(g)
    assert torch.allclose(z.grad, g * surrogate(name).derivative(z.detach()))


def test_triangle_is_the_spikingssm_surrogate(randn) -> None:
    z = randn(500, scale=2.0)
    assert torch.allclose(surrogate("triangle").derivative(z), torch.clamp(1 - z.abs(), min=0))


@pytest.mark.parametrize(
    ("name", "sj_name", "alpha"),
    [("sigmoid", "Sigmoid", 4.0), ("atan", "ATan", 2.0), ("rect", "Rect", 1.0), ("sigmoid", "Sigmoid", 2.5)],
)
def test_matches_spikingjelly_surrogate_gradient(name, sj_name, alpha, randn) -> None:
    sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    z = randn(1000, scale=1.5)
    z_ours, z_sj = z.clone().requires_grad_(), z.clone().requires_grad_()
    Surrogate(name, alpha)(z_ours).sum().backward()
    getattr(sj_surrogate, sj_name)(alpha=alpha)(z_sj).sum().backward()
    assert torch.allclose(z_ours.grad, z_sj.grad, atol=1e-12)


def test_bad_surrogates_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        surrogate("nope")
    with pytest.raises(ValueError, match="alpha must be a positive"):
        Surrogate("atan", -1.0)
    with pytest.raises(TypeError, match="surrogate must be"):
        resolve_spike_function(3, default="triangle")
