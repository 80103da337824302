"""``spikessm train``: seeded training with atomic checkpoints, exact resume, and DDP via torchrun.

One process (CPU or one GPU) or several (``torchrun --nproc_per_node N -m spikessm_snn.cli
train ...``: PyTorch DDP, NCCL on GPUs, gloo on CPUs). Every process reads the same seeded
permutation of the data each epoch and takes its share (``DistributedSampler``), so the global
batch of step k is the same set for any number of processes; the per-process batch is
``batch / world_size``. Dropout and shuffling are seeded by ``(seed, epoch)``, so a run resumed
from its checkpoint continues exactly as the uninterrupted run would.

Per epoch, rank 0 appends ``{"epoch", "loss", "test_accuracy" (or "test_perplexity" for language
modelling), "spike_rates", "seconds"}`` to
``<out>/metrics.jsonl`` and writes ``<out>/checkpoint.pt`` atomically (loaded with
``weights_only=True``).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from ..checkpoints import load_training_state, save_training_state
from ..data.tasks import LANGUAGE_TASKS, PAIR_TASKS, load_task
from ..models import CausalLanguageModel, SequenceClassifier
from ..recorder import SpikeRecorder
from ..ssm import s4d_block, spike_ssm_block, spiking_ssm_block
from .classify import _param_groups, evaluate_classifier, train_epoch

BLOCKS = {"spike-ssm": spike_ssm_block, "spikingssm": spiking_ssm_block, "s4d": s4d_block}


@dataclass(frozen=True)
class TrainConfig:
    task: str = "digits"
    model: str = "spike-ssm"
    backend: str = "torch"
    d_model: int = 64
    d_state: int = 16
    layers: int = 4
    norm: str = "batch"
    prenorm: bool = False
    dropout: float = 0.0
    epochs: int = 10
    batch: int = 64
    lr: float = 0.01
    weight_decay: float = 0.01
    seed: int = 0
    data_dir: str | None = None
    context: int = 512  # language modelling: tokens per window
    bidirectional: bool = False  # S4D over past and future (classification only)
    trainable_b: bool = False
    detach_reset: bool = False  # no gradient through the reset (stabler BPTT over long sequences)
    schedule: str = "constant"  # learning rate over the run: "constant" or "cosine" (to 0 at the last step)
    warmup: int = 0  # optimizer steps of linear warm-up from 0
    grad_clip: float = 0.0  # clip the gradient's global norm to this before each step (0: no clipping)

    def lr_factor(self, step: int, total_steps: int) -> float:
        """The learning rate of optimizer step ``step`` (from 0) as a fraction of ``lr``."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.schedule == "constant":
            return warm
        return warm * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))

    def check(self, world_size: int) -> None:
        if self.model not in BLOCKS:
            raise ValueError(f"unknown model {self.model!r}; known: {sorted(BLOCKS)}")
        if self.model == "s4d" and self.backend != "torch":
            raise ValueError("the s4d baseline has no neuron: --backend applies to spiking models only")
        for name in ("d_model", "d_state", "layers", "epochs", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch % world_size:
            raise ValueError(f"batch {self.batch} must divide evenly over {world_size} processes")
        if self.bidirectional and self.task in LANGUAGE_TASKS:
            raise ValueError("a language model must be causal: --bidirectional is for classification")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not (
            0 <= self.dropout < 1
            and self.lr > 0
            and self.weight_decay >= 0
            and self.warmup >= 0
            and self.grad_clip >= 0
        ):
            raise ValueError(f"need 0 <= dropout < 1, lr > 0 and weight_decay, warmup, grad_clip >= 0: {self}")


def build_model(config: TrainConfig, d_input: int, classes: int) -> nn.Module:
    kwargs: dict[str, Any] = {"d_state": config.d_state, "dropout": config.dropout,
                              "bidirectional": config.bidirectional, "trainable_b": config.trainable_b}  # fmt: skip
    if config.model != "s4d":
        kwargs.update(backend=config.backend, detach_reset=config.detach_reset)
    block = partial(BLOCKS[config.model], **kwargs)
    if config.task in LANGUAGE_TASKS:
        return CausalLanguageModel(d_input, block, d_model=config.d_model, layers=config.layers,
                                   dropout=config.dropout)  # fmt: skip
    return SequenceClassifier(d_input, classes, block, d_model=config.d_model, layers=config.layers,
                              norm=config.norm, prenorm=config.prenorm, dropout=config.dropout,
                              pairs=config.task in PAIR_TASKS)  # fmt: skip


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a class per sequence, or of the next token at every position."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def _evaluate(model: nn.Module, data: Dataset, task: str, device: torch.device) -> dict[str, Any]:
    if task not in LANGUAGE_TASKS:
        accuracy, rates = evaluate_classifier(model, data, device=device)
        return {"test_accuracy": accuracy, "spike_rates": rates}
    model.eval()
    total, count = 0.0, 0
    with SpikeRecorder(model) as recorder:
        for x, y in DataLoader(data, batch_size=16):
            total += float(_loss(model(x.to(device)), y.to(device))) * y.numel()
            count += y.numel()
    model.train()
    return {"test_perplexity": math.exp(total / count), "spike_rates": recorder.rates()}


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); starts the process group under torchrun."""
    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and local >= torch.cuda.device_count():
        raise RuntimeError(f"process {local} of this machine needs a GPU of its own, but {torch.cuda.device_count()} "
                           "are visible: start at most that many processes a machine (torchrun --nproc_per_node), "
                           "or run on CPUs with CUDA_VISIBLE_DEVICES=''")  # fmt: skip
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def train(config: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train ``config`` writing to ``out``; return the metrics of every epoch (rank 0's view)."""
    rank, world, device = _distributed()
    config.check(world)
    out.mkdir(parents=True, exist_ok=True)
    train_set, test_set, d_input, classes = load_task(config.task, config.data_dir, config.seed, config.context)
    torch.manual_seed(config.seed)
    model = build_model(config, d_input, classes).to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, config.lr, config.weight_decay))
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    checkpoint_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    start, history = 0, []
    if resume and checkpoint_path.exists():
        saved = load_training_state(checkpoint_path, config, model, optimizer, device)
        start, history = saved["epoch"], saved["history"]
    elif rank == 0 and metrics_path.exists():
        metrics_path.unlink()
    wrapped = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed,
                                 drop_last=True)  # fmt: skip
    loader = DataLoader(train_set, batch_size=config.batch // world, sampler=sampler, drop_last=True)
    total_steps = config.epochs * len(loader)

    def before_step(epoch: int, step: int) -> None:  # the lr is a function of the global step: exact on resume
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        factor = config.lr_factor(epoch * len(loader) + step, total_steps)
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * factor

    for epoch in range(start, config.epochs):
        sampler.set_epoch(epoch)
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout of this epoch, the same after a resume
        began = time.perf_counter()
        bar = tqdm(loader, desc=f"{config.model} {config.task} epoch {epoch + 1}/{config.epochs}",
                   disable=not progress or rank != 0, leave=False)  # fmt: skip
        total, steps = train_epoch(wrapped, bar, optimizer, _loss, device, partial(before_step, epoch))
        if world > 1:
            dist.all_reduce(total)
        record = {"epoch": epoch + 1, "loss": float(total) / (steps * world),
                  **_evaluate(model, test_set, config.task, device),
                  "seconds": round(time.perf_counter() - began, 2)}  # fmt: skip
        history.append(record)
        if rank == 0:
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if progress:
                print(json.dumps(record), flush=True)
            save_training_state(checkpoint_path, config, model, optimizer, epoch + 1, history)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return history


def evaluate(checkpoint: Path, data_dir: str | None = None) -> dict[str, Any]:
    """Test accuracy and per-layer spike rates of a saved checkpoint (``weights_only`` load)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = TrainConfig(**{**saved["config"], "data_dir": data_dir or saved["config"]["data_dir"]})
    _, test_set, d_input, classes = load_task(config.task, config.data_dir, config.seed, config.context)
    model = build_model(config, d_input, classes)
    model.load_state_dict(saved["model"])
    return {"epoch": saved["epoch"], **_evaluate(model, test_set, config.task, torch.device("cpu"))}
