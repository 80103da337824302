"""Neuron constants that stay in their range by construction, fixed or trainable.

A fixed constant is a buffer holding its value exactly. A trainable one is an unconstrained
``raw`` parameter mapped into its range: decays ``sigmoid(raw)`` in (0, 1), thresholds and
refractory magnitudes ``softplus(raw)`` in (0, inf) (as suggested in ``srr-and-pmbc.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# range name -> (lowest, lowest included, highest, highest included, description)
_RANGES: dict[str, tuple[float, bool, float, bool, str]] = {
    "decay": (0.0, False, 1.0, True, "in (0, 1]"),
    "refractory_decay": (0.0, True, 1.0, False, "in [0, 1)"),
    "positive": (0.0, False, math.inf, False, "> 0"),
    "nonnegative": (0.0, True, math.inf, False, ">= 0"),
}


def _in_range(value: float, kind: str, trainable: bool) -> bool:
    low, low_in, high, high_in, _ = _RANGES[kind]
    if trainable:  # the trainable maps reach open intervals only
        low_in, high_in = False, False
    return (value > low or (low_in and value == low)) and (value < high or (high_in and value == high))


class ConstrainedParameter(nn.Module):
    """One neuron constant of shape ``shape`` (``()`` shared, ``(D,)`` per channel, ...)."""

    def __init__(self, name: str, value: float, kind: str, trainable: bool, shape: Sequence[int] = ()) -> None:
        super().__init__()
        value = float(value)
        if not math.isfinite(value) or not _in_range(value, kind, trainable):
            rng = _RANGES[kind][4]
            extra = " (a trainable one must lie strictly inside its range)" if trainable else ""
            raise ValueError(f"{name} must be {rng}{extra}, got {value}")
        self.name, self.kind, self.trainable = name, kind, trainable
        full = torch.full(tuple(shape), value)
        if not trainable:
            self.register_buffer("value", full)
        elif kind in ("decay", "refractory_decay"):
            self.raw = nn.Parameter(torch.logit(full))
        else:
            self.raw = nn.Parameter(full + torch.log(-torch.expm1(-full)))  # softplus^-1

    def forward(self) -> Tensor:
        if not self.trainable:
            return self.value
        if self.kind in ("decay", "refractory_decay"):
            return torch.sigmoid(self.raw)
        return F.softplus(self.raw)

    def extra_repr(self) -> str:
        return f"{self.name}, {'trainable' if self.trainable else 'fixed'}, shape={tuple(self().shape)}"
