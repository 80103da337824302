"""Training loops."""

from .classify import evaluate_classifier, train_classifier

__all__ = ["evaluate_classifier", "train_classifier"]
