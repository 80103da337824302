"""Datasets: the embedded sequential digits."""

from .digits import sequential_digits

__all__ = ["sequential_digits"]
