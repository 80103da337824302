"""The embedded digits: size, range, a seeded disjoint split."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.data import sequential_digits


def test_sizes_range_and_seeded_split() -> None:
    train, test = sequential_digits(test_fraction=0.2, seed=3)
    assert len(train) + len(test) == 1797 and len(test) == 359
    x, y = train.tensors
    assert x.shape[1:] == (64, 1) and x.min() >= 0 and x.max() == 1 and set(y.unique().tolist()) == set(range(10))
    again, _ = sequential_digits(test_fraction=0.2, seed=3)
    assert torch.equal(again.tensors[0], x)
    other, _ = sequential_digits(test_fraction=0.2, seed=4)
    assert not torch.equal(other.tensors[0], x)
    with pytest.raises(ValueError, match="test_fraction"):
        sequential_digits(test_fraction=1.5)
