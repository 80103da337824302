"""Checkpoints, shared by every training loop: written atomically and durably, read with
``weights_only=True`` and checked, refused with one clear line (``CheckpointError``) when damaged,
foreign, or written for another configuration.

A weights file (``export_weights``) holds a model's configuration, its tensors, what it measured,
and a SHA-256 checksum of the tensors, verified on reading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used; the message names the file and why."""


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, flushed to disk, then renamed over ``path``: a crash
    leaves the old file or the new one, never half a file (and no temporary file behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_checkpoint(path: Path, required: Iterable[str] = ("config", "model"),
                    map_location: torch.device | str = "cpu") -> dict[str, Any]:  # fmt: skip
    """The dictionary saved at ``path`` (tensors and plain data only), with the ``required`` keys."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty")
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many kinds for damaged or foreign files; none is useful here
        raise CheckpointError(f"{path} is not a readable checkpoint (damaged, truncated or another format: "
                              f"{type(error).__name__})") from None  # fmt: skip
    if not isinstance(saved, dict) or any(key not in saved for key in required):
        raise CheckpointError(f"{path} is not a checkpoint of this project (it lacks {sorted(required)})")
    if not isinstance(saved["config"], dict) or not isinstance(saved.get("model", {}), Mapping):
        raise CheckpointError(f"{path} holds a malformed configuration or model")
    return saved


def config_differences(saved: Mapping[str, Any], config: Any, may_differ: Iterable[str] = ()) -> list[str]:
    """``"name: saved -> now"`` for every field of ``config`` (a dataclass) that differs from ``saved``."""
    now = dataclasses.asdict(config)
    names = sorted((set(now) | set(saved)) - set(may_differ))
    return [f"{name}: {saved.get(name, '(absent)')!r} -> {now.get(name, '(absent)')!r}"
            for name in names if saved.get(name) != now.get(name)]  # fmt: skip


def save_training_state(path: Path, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                        history: list[dict[str, Any]], **extra: Any) -> None:  # fmt: skip
    atomic_save({"config": dataclasses.asdict(config), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "epoch": epoch, "history": history, **extra}, path)  # fmt: skip


def load_training_state(path: Path, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer,
                        device: torch.device, may_differ: Iterable[str] = ()) -> dict[str, Any]:  # fmt: skip
    """Restore ``model`` and ``optimizer``; return the checkpoint (``epoch``, ``history``, extras).
    Only the fields named in ``may_differ`` may differ from the configuration it was written for."""
    saved = read_checkpoint(path, ("config", "model", "optimizer", "epoch", "history"), device)
    differences = config_differences(saved["config"], config, may_differ)
    if differences:
        raise CheckpointError(f"{path} was written for another configuration ({'; '.join(differences)}); "
                              "use the same settings, or another --out")  # fmt: skip
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path} does not fit this model: {str(error).splitlines()[0]}") from None
    return saved


def tensors_checksum(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_weights(path: Path, config: Any, state: Mapping[str, torch.Tensor], metrics: dict[str, Any],
                   **extra: Any) -> None:  # fmt: skip
    """A weights-only file: ``{"config", "model", "metrics", "sha256", **extra}``."""
    state = {name: t.detach().cpu() for name, t in state.items()}
    atomic_save({"config": dataclasses.asdict(config), "model": state, "metrics": metrics,
                 "sha256": tensors_checksum(state), **extra}, path)  # fmt: skip


def verify_checksum(path: Path, saved: Mapping[str, Any]) -> None:
    """Raise unless a weights file's tensors match its recorded checksum (training checkpoints have none)."""
    if "sha256" in saved and tensors_checksum(saved["model"]) != saved["sha256"]:
        raise CheckpointError(f"{path}: its tensors do not match its checksum (the file was changed or damaged)")
