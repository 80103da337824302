"""The fused kernels' constants ``[4, N]``: stacked once for values their owner keeps, at every call for others."""

from __future__ import annotations

import torch

from spikessm_snn.backends.fused import constants
from spikessm_snn.backends.fused.constants import stacked_constants


def _values(randn) -> tuple[torch.Tensor, ...]:
    return randn(3).sigmoid(), randn(3).exp(), randn(()).sigmoid(), randn(2, 1).exp()


def test_the_stack_holds_each_value_broadcast_per_neuron(randn) -> None:
    values = _values(randn)
    stacked = stacked_constants(values, torch.Size((2, 3)), torch.float64, kept=True)
    assert stacked.shape == (4, 6) and stacked.dtype == torch.float64
    for row, value in zip(stacked, values, strict=True):
        assert torch.equal(row, value.double().expand(2, 3).reshape(-1))


def test_fixed_values_are_stacked_once_until_one_changes(randn) -> None:
    values = _values(randn)
    first = stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True)
    assert stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True) is first
    assert stacked_constants(values, torch.Size((2, 3)), torch.float64, kept=True) is not first
    values[1].mul_(2.0)  # in place: its version counter moves
    again = stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True)
    assert again is not first and torch.equal(again[1], values[1].float().expand(2, 3).reshape(-1))


def test_values_that_take_a_gradient_are_stacked_at_every_call(randn) -> None:
    raw = randn(3).requires_grad_()
    values = (raw.sigmoid(), *_values(randn)[1:])
    first = stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True)
    assert first.grad_fn is not None
    assert stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True) is not first
    first[0].sum().backward()
    torch.testing.assert_close(raw.grad, 2 * values[0].detach() * (1 - values[0].detach()))


def test_values_their_owner_does_not_keep_leave_nothing_behind(randn) -> None:
    """Values made anew at each call (a trained constant's, under ``no_grad``) are stacked and
    forgotten: no entry, no finalizer on the values that come with them call after call."""
    import weakref

    fixed = _values(randn)[1:]
    registered, held = len(weakref.finalize._registry), len(constants._kept)
    for _ in range(5):
        stacked = stacked_constants((randn(3).sigmoid(), *fixed), torch.Size((2, 3)), torch.float32, kept=False)
        assert torch.equal(stacked[1], fixed[0].float().expand(2, 3).reshape(-1))
    assert len(weakref.finalize._registry) == registered and len(constants._kept) == held


def test_a_stack_is_kept_while_its_values_live_and_dropped_with_them(randn) -> None:
    """However many other neurons' stacks come after it (a CUDA graph that captured a call reads it
    at every replay), until one of its values is freed."""
    values = _values(randn)
    first = stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True)
    others = [_values(randn) for _ in range(40)]
    for other in others:
        stacked_constants(other, torch.Size((2, 3)), torch.float32, kept=True)
    assert stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True) is first
    held = len(constants._kept)
    del others, other
    assert len(constants._kept) == held - 40
    del values
    assert len(constants._kept) == held - 41


def test_a_stack_made_under_inference_mode_serves_a_later_call_with_gradients(randn) -> None:
    values = _values(randn)
    with torch.inference_mode():
        first = stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True)
    assert not first.is_inference() and stacked_constants(values, torch.Size((2, 3)), torch.float32, kept=True) is first
