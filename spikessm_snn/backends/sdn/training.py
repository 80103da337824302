"""Train an SDN with the exact hard-reset LIF as teacher; save and load its weights safely.

Data as the published code makes it (``spikingssm-and-sdn.md``): inputs ``x ~ N(0, 1)``,
``T = 1024``, 50 000 sequences split 90/10 into train/validation, a separate test set; targets
``m[t] = tau * u_after_reset[t-1]`` from our ``'torch'`` reference. SmoothL1 on ``m``, AdamW
(lr 0.01, weight decay 0.01), cosine schedule, batch 64. Everything is seeded; a checkpoint is
written atomically after every epoch and ``resume=True`` continues from it.

A weights file is ``{"format", "state_dict", "metadata", "checksum"}`` loaded with
``weights_only=True``; ``load_sdn`` refuses a file whose checksum, format or tensors do not match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from ...checkpoints import atomic_save, load_training_state, save_training_state
from ...neurons.dynamics import NeuronParameters, charge, previous, zero_state
from ...neurons.surrogate import surrogate
from ..reference import run_reference
from .network import SurrogateDynamicNetwork

FORMAT = "spikessm-sdn/1"


@dataclass(frozen=True)
class SDNTrainingConfig:
    tau: float = 0.125
    steps: int = 1024
    sequences: int = 50_000
    test_sequences: int = 2_000
    validation_fraction: float = 0.1
    epochs: int = 100
    batch: int = 64
    lr: float = 0.01
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse a configuration that would train on nothing or on a neuron outside the LIF's range."""
        if not 0 < self.tau < 1:  # also refuses NaN
            raise ValueError(f"tau must be in (0, 1) (the LIF's decay per step), got {self.tau}")
        for name in ("steps", "sequences", "test_sequences", "epochs", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        validation = int(self.sequences * self.validation_fraction)
        if validation < 1 or validation == self.sequences:
            raise ValueError(
                f"{self.sequences} sequences leave {validation} for validation and "
                f"{self.sequences - validation} for training; both need at least one"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")


def lif_teacher(x: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """``x [S, T]`` -> ``(m, spikes)`` ``[S, T]`` of the exact hard-reset LIF (threshold 1, reset 0)."""
    x_seq = x.T.contiguous()
    constant = x.new_tensor
    p = NeuronParameters(constant(tau), constant(1.0), constant(0.0), constant(0.0), hard_reset=True, v_reset=0.0)
    with torch.no_grad():
        result = run_reference(x_seq, zero_state(x_seq[0]), p, surrogate("triangle"), record=True)
    m = charge(torch.zeros_like(x_seq), previous(result.v_seq, torch.zeros_like(x_seq[0])), p.tau)  # h - x
    return m.T.contiguous(), result.spikes.T.contiguous()


def sample_inputs(sequences: int, steps: int, seed: int, mean: float = 0.0) -> Tensor:
    """Seeded ``x ~ N(mean, 1)``, ``[sequences, steps]`` float32 (drawn on the CPU: reproducible)."""
    return torch.randn(sequences, steps, generator=torch.Generator().manual_seed(seed)) + mean


@torch.no_grad()
def sdn_agreement(model: SurrogateDynamicNetwork, tau: float, x: Tensor, batch: int = 256) -> dict[str, float]:
    """Spike agreement, share of sequences with every spike right, and MAE / MSE of ``m``."""
    model.eval()
    m_true, s_true = lif_teacher(x, tau)
    m_pred = torch.cat([model(x[i : i + batch, None]) for i in range(0, x.shape[0], batch)])
    s_pred = (m_pred + x - 1.0 >= 0).to(x.dtype)
    equal = s_pred == s_true
    return {
        "spike_agreement": equal.float().mean().item(),
        "sequences_all_correct": equal.all(dim=1).float().mean().item(),
        "mae_m": (m_pred - m_true).abs().mean().item(),
        "mse_m": ((m_pred - m_true) ** 2).mean().item(),
    }


def _checksum(state_dict: dict[str, Tensor], metadata: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_sdn(model: SurrogateDynamicNetwork, metadata: dict[str, Any], path: Path) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"format": FORMAT, "state_dict": state, "metadata": metadata,
                  "checksum": _checksum(state, metadata)}, Path(path))  # fmt: skip


def load_sdn(path: str | Path) -> tuple[SurrogateDynamicNetwork, dict[str, Any]]:
    """The network (eval mode) and its metadata; a clear error for a wrong or tampered file."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path} is not a loadable SDN weights file: {error}") from error
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not an SDN weights file of format {FORMAT!r}")
    state, metadata = blob.get("state_dict"), blob.get("metadata")
    if not (isinstance(state, dict) and all(isinstance(t, Tensor) for t in state.values())
            and isinstance(metadata, dict) and isinstance(metadata.get("tau"), float)
            and isinstance(metadata.get("train_steps"), int)):  # fmt: skip
        raise ValueError(f"{path} lacks the tensors or the record (tau, train_steps) of an SDN weights file")
    if _checksum(state, metadata) != blob.get("checksum"):
        raise ValueError(f"{path}: checksum mismatch; the weights or their record were changed after training")
    model = SurrogateDynamicNetwork()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold this SDN architecture: {error}") from error
    return model.eval(), metadata


def train_sdn(
    config: SDNTrainingConfig,
    out: Path,
    checkpoint: Path | None = None,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[SurrogateDynamicNetwork, dict[str, Any]]:
    """Train, write the weights file ``out`` (with metrics in its metadata), return both."""
    device = torch.device(device)
    checkpoint = checkpoint or out.with_name(out.stem + ".checkpoint.pt")
    torch.manual_seed(config.seed)
    x_all = sample_inputs(config.sequences, config.steps, config.seed).to(device)
    m_all, _ = lif_teacher(x_all, config.tau)
    n_val = int(config.sequences * config.validation_fraction)
    x_train, m_train, x_val, m_val = x_all[n_val:], m_all[n_val:], x_all[:n_val], m_all[:n_val]
    model = SurrogateDynamicNetwork().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batches = (x_train.shape[0] + config.batch - 1) // config.batch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * batches)
    shuffle = torch.Generator().manual_seed(config.seed + 1)
    start, history = 0, []
    if resume and checkpoint.exists():
        saved = load_training_state(checkpoint, config, model, optimizer, device)
        schedule.load_state_dict(saved["schedule"])
        shuffle.set_state(saved["shuffle"])
        start, history = saved["epoch"], saved["history"]
    loss_fn = torch.nn.SmoothL1Loss()
    for epoch in range(start, config.epochs):
        model.train()
        order = torch.randperm(x_train.shape[0], generator=shuffle).to(device)
        bar = tqdm(range(batches), desc=f"SDN epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for b in bar:
            idx = order[b * config.batch : (b + 1) * config.batch]
            loss = loss_fn(model(x_train[idx, None]), m_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if b % 100 == 0 and progress:
                bar.set_postfix(loss=f"{loss.item():.2e}")
        model.eval()
        with torch.no_grad():
            val = sum(loss_fn(model(x_val[i : i + 256, None]), m_val[i : i + 256]).item() * len(x_val[i : i + 256])
                      for i in range(0, n_val, 256)) / n_val  # fmt: skip
        history.append({"epoch": epoch + 1, "train_loss": loss.item(), "val_loss": val})
        if progress:
            print(f"SDN epoch {epoch + 1}/{config.epochs}: train {loss.item():.3e}, validation {val:.3e}", flush=True)
        save_training_state(checkpoint, config, model, optimizer, epoch + 1, history,
                            schedule=schedule.state_dict(), shuffle=shuffle.get_state())  # fmt: skip
    test_x = sample_inputs(config.test_sequences, config.steps, config.seed + 10_000).to(device)
    metadata = {
        "tau": config.tau, "v_threshold": 1.0, "v_reset": 0.0, "reset": "hard", "train_steps": config.steps,
        "config": dataclasses.asdict(config), "history": history,
        "test": sdn_agreement(model, config.tau, test_x), "torch": str(torch.__version__),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }  # fmt: skip
    save_sdn(model.cpu(), metadata, out)
    return model.eval(), metadata
