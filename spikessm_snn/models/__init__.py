"""Models built from the SSM blocks."""

from .classifier import SequenceClassifier

__all__ = ["SequenceClassifier"]
