"""The embedded default task: scikit-learn's 8x8 digits read pixel by pixel (``data.md``).

Sequences of length 64, one input channel scaled to [0, 1], 10 classes; a seeded split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

DIGITS = Path(__file__).with_name("digits.npz")


def sequential_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` of ``x [L=64, 1]`` float32 and labels; the same split for the same seed."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    with np.load(DIGITS) as blob:
        images, labels = blob["images"], blob["labels"]
    x = torch.from_numpy(images.reshape(len(images), 64, 1).astype(np.float32) / 16.0)
    y = torch.from_numpy(labels.astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])
