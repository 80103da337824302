"""A plain, seeded training loop for sequence classifiers (cross-entropy, AdamW).

Parameters marked with ``_optim`` (the S4D parameters) get their own learning rate and no
weight decay, as in the papers. Each epoch logs loss, test accuracy and per-layer spike rates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from ..recorder import SpikeRecorder


def _param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, object]]:
    plain = [p for p in model.parameters() if not hasattr(p, "_optim")]
    groups: list[dict[str, object]] = [{"params": plain, "lr": lr, "weight_decay": weight_decay}]
    for p in model.parameters():
        if hasattr(p, "_optim"):
            hp = {"lr": lr, "weight_decay": weight_decay, **p._optim}
            hp["lr"] = min(lr, hp["lr"])
            groups.append({"params": [p], **hp})
    return groups


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    device: torch.device | str = "cpu",
    before_step: Callable[[int], None] | None = None,
) -> tuple[Tensor, int]:
    """One pass of AdamW steps; returns the summed loss (a tensor, not synced) and the step count.
    ``before_step(i)`` runs before the ``i``-th optimizer step of the epoch (e.g. to set the lr)."""
    total, steps = torch.zeros((), device=device), 0
    for x, y in batches:
        loss = loss_fn(model(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step(steps)
        optimizer.step()
        total += loss.detach()
        steps += 1
    return total, steps


@torch.no_grad()
def evaluate_classifier(model: nn.Module, data: Dataset, batch: int = 256,
                        device: torch.device | str = "cpu") -> tuple[float, dict[str, float]]:  # fmt: skip
    """Accuracy and per-layer spike rates (from a ``SpikeRecorder``) on ``data``."""
    model.eval()
    correct = 0
    with SpikeRecorder(model) as recorder:
        for x, y in DataLoader(data, batch_size=batch):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    model.train()
    return correct / len(data), recorder.rates()


def train_classifier(model: nn.Module, train: TensorDataset, test: TensorDataset, epochs: int = 1,
                     lr: float = 0.01, weight_decay: float = 0.01, batch: int = 64, seed: int = 0,
                     progress: bool = True) -> list[dict[str, object]]:  # fmt: skip
    """Train in place; return one record per epoch: mean loss, test accuracy, spike rate per layer."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(_param_groups(model, lr, weight_decay))
    order = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        loader = DataLoader(train, batch_size=batch, shuffle=True, generator=order)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        total, steps = train_epoch(model, bar, optimizer, nn.functional.cross_entropy)
        accuracy, rates = evaluate_classifier(model, test)
        history.append({"epoch": epoch + 1, "loss": float(total) / steps, "test_accuracy": accuracy,
                        "spike_rates": rates})  # fmt: skip
    return history
