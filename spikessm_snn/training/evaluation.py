"""``spikessm evaluate``: a checkpoint or weights file, checked before anything is allocated, then
evaluated wherever it is run.

The configuration is checked first (ranges, and every stored tensor's shape against a model built
on the meta device, which allocates nothing), so a hostile file cannot make us allocate a huge
model. The model runs on the GPU where there is one, else on the CPU; a neuron backend that cannot
run here (``'cupy'`` on a CPU) is replaced by the exact ``'torch'`` loop, which gives the same
spikes, and the result says so.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from ..backends.registry import BACKENDS
from ..checkpoints import CheckpointError, read_checkpoint, verify_checksum
from ..data.batching import batches
from ..data.tasks import LANGUAGE_TASKS, load_task
from .config import TrainConfig
from .trainer import EVAL_BATCH, build_model, evaluate_split

MAX_INPUT = 1 << 20  # input channels / classes / vocabulary a file may ask for


def _backend_here(wanted: str, device: torch.device) -> tuple[str, str | None]:
    """``(backend, note)``: ``wanted`` if it runs on ``device``, else the exact loop and why."""
    reason = BACKENDS[wanted].installed()
    if reason is None and wanted == "cupy" and device.type != "cuda":
        reason = "the fused kernels need a CUDA device"
    if reason is None:
        return wanted, None
    return "torch", f"backend {wanted!r} cannot run here ({reason}); using the exact 'torch' loop (same spikes)"


Loaded = tuple[nn.Module, TrainConfig, dict[str, Any], str | None]


def load_model(path: Path, backend: str | None = None, device: torch.device | None = None) -> Loaded:
    """``(model in eval mode, its configuration, the file's contents, a note on the backend or None)``.

    A training checkpoint gives its best-on-validation weights when it holds them (else its last);
    a weights file (``checkpoints.export_weights``) has its checksum verified.
    """
    path = Path(path)
    saved = read_checkpoint(path)
    try:
        config = TrainConfig.from_dict(saved["config"])
        config.check()
        d_input, classes = int(saved.get("d_input", 0)), int(saved.get("classes", 0))
        if not (1 <= d_input <= MAX_INPUT and 2 <= classes <= MAX_INPUT):
            raise ValueError(f"input size {d_input} and class count {classes} must be in [1 or 2, {MAX_INPUT}]")
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: its configuration is not valid ({error})") from None
    weights = saved["best"]["model"] if isinstance(saved.get("best"), dict) else saved["model"]
    verify_checksum(path, saved)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen, note = _backend_here(backend or config.backend, device)
    if config.model == "s4d":
        chosen, note = "torch", None
    config = dataclasses.replace(config, backend=chosen)
    with torch.device("meta"):
        template = build_model(config, d_input, classes).state_dict()
    stored = {name: tuple(t.shape) for name, t in weights.items() if isinstance(t, torch.Tensor)}
    expected = {name: tuple(t.shape) for name, t in template.items()}
    if stored != expected:
        wrong = sorted(set(stored) ^ set(expected)) or [n for n in expected if stored[n] != expected[n]]
        raise CheckpointError(f"{path}: its tensors do not fit its configuration (first: {wrong[0]})")
    model = build_model(config, d_input, classes)
    model.load_state_dict(weights)
    return model.to(device).eval(), config, saved, note


def limited(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` items of ``data`` (all of them for ``None``)."""
    if limit is None:
        return data
    if limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    return Subset(data, range(min(limit, len(data))))


def evaluate(path: Path, data_dir: str | None = None, backend: str | None = None, limit: int | None = None,
             split: str = "test", device: torch.device | None = None) -> dict[str, Any]:  # fmt: skip
    """Accuracy (or perplexity) and per-layer spike rates on ``split`` (its first ``limit`` items)."""
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    model, config, saved, note = load_model(path, backend, device)
    if note:
        print(note, file=sys.stderr)
    config = dataclasses.replace(config, data_dir=data_dir or config.data_dir)
    task = load_task(config.task, config.data_dir, config.seed, config.context, splits=(split,))
    data = limited(getattr(task, split), limit)
    device = next(model.parameters()).device
    result = evaluate_split(model, batches(data, EVAL_BATCH, shuffle=False), config.task in LANGUAGE_TASKS, device)
    rates = list(result["spike_rates"].values())
    best = saved.get("best")
    epoch = best["epoch"] if isinstance(best, dict) else saved.get("epoch", saved.get("metrics", {}).get("epoch"))
    return {"file": str(path), "split": split, "items": len(data), "model": config.model, "backend": config.backend,
            "device": str(device), "epoch": epoch, **result,
            "mean_spike_rate": sum(rates) / len(rates) if rates else None}  # fmt: skip
