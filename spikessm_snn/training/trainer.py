"""``spikessm train``: the one training loop, seeded, with atomic checkpoints, exact resume, and DDP via torchrun.

One process (CPU or one GPU) or several (``torchrun --nproc_per_node N -m spikessm_snn.cli train
...``: PyTorch DDP, NCCL on GPUs, gloo on CPUs; BatchNorm statistics are synchronised over the
processes, ``models/norms.py``). Every process draws the same seeded, length-bucketed global batches
(``data/batching.py``) and takes its ``batch / world_size`` share, so step k sees the same global
batch for any number of processes. Dropout and batches are seeded by ``(seed, epoch)``, so a run
resumed from its checkpoint continues exactly as the uninterrupted run would.

Each epoch is evaluated on the validation and test splits; the model with the best validation score
is kept in the checkpoint (``best``), and its test score is the run's result: model selection never
looks at the test split. Per epoch, rank 0 writes ``<out>/checkpoint.pt`` atomically, then rewrites
``<out>/metrics.jsonl`` from the history inside it, so the two always agree. Spike counts and losses
stay on the device during an epoch and are read once at its end.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..backends.registry import get_backend
from ..checkpoints import load_training_state, save_training_state
from ..data.batching import Batch, batches
from ..data.tasks import LANGUAGE_TASKS, PAIR_TASKS, load_task
from ..models import CausalLanguageModel, SequenceClassifier
from ..ssm import s4d_block, spike_ssm_block, spiking_ssm_block
from ..ssm.blocks import reset_spike_counts, spike_rates
from .config import MAY_DIFFER_ON_RESUME, TrainConfig

BLOCKS = {"spike-ssm": spike_ssm_block, "spikingssm": spiking_ssm_block, "s4d": s4d_block}
EVAL_BATCH = 64


def build_model(config: TrainConfig, d_input: int, classes: int) -> nn.Module:
    kwargs: dict[str, Any] = {"d_state": config.d_state, "dropout": config.dropout,
                              "bidirectional": config.bidirectional, "trainable_b": config.trainable_b}  # fmt: skip
    if config.model != "s4d":
        kwargs.update(backend=config.backend, detach_reset=config.detach_reset)
    if config.model == "spike-ssm":
        kwargs.update(learn_decays=config.learn_decays, learn_thresholds=not config.fixed_thresholds)
    block = partial(BLOCKS[config.model], **kwargs)
    if config.task in LANGUAGE_TASKS:
        return CausalLanguageModel(d_input, block, d_model=config.d_model, layers=config.layers,
                                   dropout=config.dropout)  # fmt: skip
    return SequenceClassifier(d_input, classes, block, d_model=config.d_model, layers=config.layers,
                              norm=config.norm, prenorm=config.prenorm, dropout=config.dropout,
                              pairs=config.task in PAIR_TASKS)  # fmt: skip


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: the dynamics parameters (marked ``_optim``: the SSM's A, dt, B by ``S4DKernel``,
    the neurons' thresholds and decays by ``SpikingActivation``) at ``min(lr, ssm_lr)`` without weight
    decay, everything else at ``lr`` with ``weight_decay``."""
    ssm = [p for p in model.parameters() if hasattr(p, "_optim")]
    plain = [p for p in model.parameters() if not hasattr(p, "_optim")]
    return [{"params": plain, "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": ssm, "lr": min(config.lr, config.ssm_lr), "weight_decay": 0.0}]  # fmt: skip


def forward(model: nn.Module, batch: Batch) -> Tensor:
    return model(batch.inputs) if batch.lengths is None else model(batch.inputs, batch.lengths)


def loss_of(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy of a class per sequence, or of the next token at every position."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device,
                before_step: Callable[[int], Tensor]) -> tuple[Tensor, Tensor, Tensor, int]:  # fmt: skip
    """One pass of AdamW steps: ``(summed loss, summed and largest gradient norm, steps)``, left on the
    device. ``before_step(i)`` runs before the ``i``-th step (lr, clipping) and returns the gradient norm."""
    total = norms = largest = torch.zeros((), device=device)
    steps = 0
    for batch in loader:
        batch = batch.to(device)
        loss = loss_of(forward(model, batch), batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = before_step(steps)
        norms, largest = norms + norm, torch.maximum(largest, norm)
        optimizer.step()
        total = total + loss.detach()
        steps += 1
    return total, norms, largest, steps


@torch.no_grad()
def evaluate_split(model: nn.Module, loader: DataLoader, language: bool, device: torch.device) -> dict[str, Any]:
    """``{"accuracy" | "perplexity", "spike_rates"}`` of ``model`` on every batch of ``loader``."""
    model.eval()
    reset_spike_counts(model)
    score, count = torch.zeros((), device=device), 0
    for batch in loader:
        batch = batch.to(device)
        output = forward(model, batch)
        if language:
            score += loss_of(output, batch.targets) * batch.targets.numel()
        else:
            score += (output.argmax(-1) == batch.targets).sum()
        count += batch.targets.numel()
    model.train()
    metric = {"perplexity": math.exp(float(score) / count)} if language else {"accuracy": float(score) / count}
    return {**metric, "spike_rates": spike_rates(model)}


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


def best_epoch(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The record of the epoch with the best validation score (accuracy, or lowest perplexity)."""
    if not history:
        return None
    if "val_perplexity" in history[0]:
        return min(history, key=lambda r: r["val_perplexity"])
    return max(history, key=lambda r: r["val_accuracy"])


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(record) + "\n" for record in history))
    os.replace(tmp, path)


def _say(message: str, show: bool) -> None:
    if show:
        print(message, file=sys.stderr, flush=True)


def _agree(flag: bool, world: int, device: torch.device) -> bool:
    """Rank 0's ``flag``, on every rank."""
    if world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.broadcast(value, 0)
    return bool(value.item())


def train(config: TrainConfig, out: Path, resume: bool = False, progress: bool = True,
          time_limit: float | None = None, workers: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Train ``config`` writing to ``out``; return every epoch's record (rank 0's view).

    ``resume`` continues ``out/checkpoint.pt`` (starting a new run, with a message, where there is
    none); without it, a folder that already holds a run is refused. ``time_limit`` (seconds) stops
    at the end of the last epoch that fits, as if interrupted: ``resume`` continues it.
    """
    out = Path(out)
    rank, world, device = _distributed()
    try:
        return _train(config, out, resume, progress and rank == 0, time_limit, workers, rank, world, device)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, out: Path, resume: bool, show: bool, time_limit: float | None,
           workers: int | None, rank: int, world: int, device: torch.device) -> list[dict[str, Any]]:  # fmt: skip
    started = time.monotonic()
    config.check(world)
    get_backend(config.backend)  # raises, saying why, where the backend cannot run on this machine
    checkpoint_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a folder")
    if not resume and (checkpoint_path.exists() or metrics_path.exists()):
        raise ValueError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    task = load_task(config.task, config.data_dir, config.seed, config.context)
    language = config.task in LANGUAGE_TASKS
    workers = (4 if device.type == "cuda" else 0) if workers is None else workers
    pin = device.type == "cuda"
    loader = batches(task.train, config.batch, shuffle=True, seed=config.seed, world=world, rank=rank,
                     workers=workers, pin_memory=pin)  # fmt: skip
    evaluation = {split: batches(data, EVAL_BATCH, shuffle=False, workers=min(workers, 2), pin_memory=pin)
                  for split, data in (("val", task.val), ("test", task.test))}  # fmt: skip
    torch.manual_seed(config.seed)
    model = build_model(config, task.d_input, task.classes).to(device)
    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    start, history, best = 0, [], None
    if resume and checkpoint_path.exists():
        saved = load_training_state(checkpoint_path, config, model, optimizer, device, MAY_DIFFER_ON_RESUME)
        start, history, best = saved["epoch"], saved["history"], saved.get("best")
        _say(f"resuming {out} after epoch {start} of {config.epochs}", show)
    elif resume:
        _say(f"no checkpoint in {out}: starting a new run", show)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0 and history:
        _write_metrics(metrics_path, history)  # the checkpoint's history is the truth after a crash
    wrapped = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    steps_per_epoch, total_steps = len(loader), config.epochs * len(loader)

    def before_step(epoch: int, step: int) -> Tensor:  # the lr is a function of the global step: exact on resume
        norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf)
        factor = config.lr_factor(epoch * steps_per_epoch + step, total_steps)
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * factor
        return norm

    for epoch in range(start, config.epochs):
        loader.batch_sampler.set_epoch(epoch)
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout of this epoch, the same after a resume
        began = time.perf_counter()
        reset_spike_counts(model)
        total, norms, largest, steps = train_epoch(wrapped, loader, optimizer, device, partial(before_step, epoch))
        if world > 1:
            dist.all_reduce(total)
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": float(total) / (steps * world),
                                  "grad_norm": float(norms) / steps, "grad_norm_max": float(largest),
                                  "train_spike_rates": spike_rates(model),
                                  "seconds": round(time.perf_counter() - began, 2)}  # fmt: skip
        evaluated, metric = time.perf_counter(), "perplexity" if language else "accuracy"
        for split, split_loader in evaluation.items():
            result = evaluate_split(model, split_loader, language, device)
            record[f"{split}_{metric}"] = result[metric]
            if split == "val":
                record["spike_rates"] = result["spike_rates"]
        record["eval_seconds"] = round(time.perf_counter() - evaluated, 2)
        history.append(record)
        if best_epoch(history) is record:
            best = {"epoch": epoch + 1, "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if rank == 0:
            save_training_state(checkpoint_path, config, model, optimizer, epoch + 1, history, best=best,
                                d_input=task.d_input, classes=task.classes)  # fmt: skip
            _write_metrics(metrics_path, history)
            if show:
                print(json.dumps(record), flush=True)
        elapsed, epoch_seconds = time.monotonic() - started, time.perf_counter() - began
        out_of_time = time_limit is not None and epoch + 1 < config.epochs and elapsed + epoch_seconds > time_limit
        if _agree(out_of_time, world, device):
            _say(f"stopping after epoch {epoch + 1} of {config.epochs}: another epoch would pass the time limit of "
                 f"{time_limit:.0f} s; --resume continues the run", show)  # fmt: skip
            break
    chosen = best_epoch(history)
    if chosen is not None and len(history) == config.epochs:
        metric = "perplexity" if language else "accuracy"
        _say(f"best validation {metric} {chosen[f'val_{metric}']:.4f} at epoch {chosen['epoch']}; test {metric} "
             f"there {chosen[f'test_{metric}']:.4f}", show)  # fmt: skip
    return history

