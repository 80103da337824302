"""MaskedBatchNorm is BatchNorm1d: without a mask on all steps, with one on the real steps alone."""

from __future__ import annotations

import torch

from spikessm_snn.models.norms import MaskedBatchNorm


def test_without_a_mask_it_is_batchnorm1d_in_training_and_evaluation(randn) -> None:
    ours, reference = MaskedBatchNorm(5).double(), torch.nn.BatchNorm1d(5).double()
    with torch.no_grad():
        ours.weight.copy_(randn(5)), ours.bias.copy_(randn(5))
    reference.load_state_dict(ours.state_dict())
    for _ in range(3):
        x = randn(4, 5, 7, scale=3.0, mean=1.0)
        assert torch.allclose(ours(x), reference(x), atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(ours, name).double(), getattr(reference, name).double(), atol=1e-12), name
    ours.eval(), reference.eval()
    x = randn(2, 5, 9)
    assert torch.allclose(ours(x), reference(x), atol=1e-12)


def test_with_a_mask_its_statistics_are_those_of_the_real_steps(randn) -> None:
    ours, reference = MaskedBatchNorm(5).double(), torch.nn.BatchNorm1d(5).double()
    x, mask = randn(3, 5, 10), torch.zeros(3, 1, 10, dtype=torch.float64)
    mask[..., :6] = 1
    x[..., 6:] = 100 * randn(3, 5, 4)  # padding far off the real steps' statistics
    assert torch.allclose(ours(x, mask)[..., :6], reference(x[..., :6]), atol=1e-12)
    assert torch.allclose(ours.running_var, reference.running_var, atol=1e-12)
