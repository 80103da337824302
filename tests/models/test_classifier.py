"""The sequence classifier on the embedded digits: shapes, spike rates, bad input, it learns."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch.utils.data import DataLoader

from spikessm_snn.data import sequential_digits
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.ssm import s4d_block, spike_ssm_block


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("prenorm", [False, True])
def test_shapes_and_per_layer_spike_rates(norm, prenorm, randn) -> None:
    model = SequenceClassifier(3, 5, partial(spike_ssm_block, d_state=8), d_model=16, layers=3, norm=norm,
                               prenorm=prenorm)  # fmt: skip
    assert model(randn(4, 40, 3, dtype=torch.float32)).shape == (4, 5)
    rates = model.spike_rates()
    assert len(rates) == 3 and all(0 < r < 1 for r in rates)
    assert SequenceClassifier(3, 5, s4d_block, d_model=8, layers=2).spike_rates() == [None, None]


def test_bad_input_and_settings_raise(randn) -> None:
    model = SequenceClassifier(3, 5, s4d_block, d_model=8, layers=1)
    with pytest.raises(ValueError, match=r"x must be \[B, L, d_input\]"):
        model(randn(4, 3, dtype=torch.float32))
    with pytest.raises(ValueError, match="norm must be"):
        SequenceClassifier(3, 5, s4d_block, d_model=8, layers=1, norm="group")
    with pytest.raises(ValueError, match="bad sizes"):
        SequenceClassifier(3, 1, s4d_block)


def test_a_small_spike_ssm_learns_the_embedded_digits() -> None:
    """A few CPU epochs: the test accuracy rises well above chance (10%)."""
    torch.manual_seed(0)
    train, test = sequential_digits()
    model = SequenceClassifier(1, 10, partial(spike_ssm_block, d_state=16), d_model=32, layers=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(6):
        for x, y in DataLoader(train, batch_size=64, shuffle=True):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    x, y = test.tensors
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.3, accuracy
