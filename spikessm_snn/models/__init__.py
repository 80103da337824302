"""Models built from the SSM blocks."""

from .classifier import SequenceClassifier
from .language_model import CausalLanguageModel

__all__ = ["CausalLanguageModel", "SequenceClassifier"]
