"""Training checkpoints, shared by every training loop: written atomically, loaded with
``weights_only=True``, refused when they were written for another configuration."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_training_state(path: Path, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                        history: list[dict[str, Any]], **extra: Any) -> None:  # fmt: skip
    atomic_save({"config": dataclasses.asdict(config), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "epoch": epoch, "history": history, **extra}, path)  # fmt: skip


def load_training_state(path: Path, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer,
                        device: torch.device) -> dict[str, Any]:  # fmt: skip
    """Restore ``model`` and ``optimizer``; return the checkpoint (``epoch``, ``history``, extras)."""
    saved = torch.load(path, map_location=device, weights_only=True)
    if saved["config"] != dataclasses.asdict(config):
        raise ValueError(f"{path} was written for another configuration:\n{saved['config']}")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    return saved
