"""Training: the configuration, the one training loop (single process or DDP), evaluation of saved models."""

from .config import TrainConfig
from .evaluation import evaluate, load_model
from .trainer import train

__all__ = ["TrainConfig", "evaluate", "load_model", "train"]
