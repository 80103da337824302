"""What a training run is: ``TrainConfig``, checked before anything is read or allocated."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..backends.registry import BACKENDS
from ..data.tasks import LANGUAGE_TASKS, TASKS

MODELS = ("spike-ssm", "spikingssm", "s4d")
NORMS = ("layer", "batch", "none")  # none: the published SpikingSSM wiring (models/norms.py)
SCHEDULES = ("constant", "cosine")
# Sizes past these are refused before anything is allocated (a checkpoint may come from anywhere).
LIMITS = {"d_model": 16_384, "d_state": 4_096, "layers": 256, "epochs": 100_000, "batch": 1 << 20,
          "context": 1 << 20, "warmup": 1 << 31}  # fmt: skip
# Fields a resumed run may change: more epochs, where the data lies, and the exact backend that runs the neurons.
MAY_DIFFER_ON_RESUME = ("epochs", "data_dir", "backend")


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
    ssm_lr: float = 0.001  # learning rate of the SSM parameters (A, dt, B): min(lr, ssm_lr), no weight decay
    weight_decay: float = 0.01
    seed: int = 0
    data_dir: str | None = None
    context: int = 512  # language modelling: tokens per window
    bidirectional: bool = False  # S4D over past and future (classification only)
    trainable_b: bool = False
    detach_reset: bool = False  # no gradient through the reset (stabler BPTT over long sequences)
    learn_decays: bool = False  # SPikE-SSM: train tau and tau_r per channel (its Figure 5 ablation)
    fixed_thresholds: bool = False  # SPikE-SSM: keep U_th = v_th = 1 instead of training them per channel
    schedule: str = "constant"  # learning rate over the run: "constant" or "cosine" (to 0 at the last step)
    warmup: int = 0  # optimizer steps of linear warm-up from 0
    grad_clip: float = 0.0  # clip the gradient's global norm to this before each step (0: no clipping)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A configuration from a saved dictionary: unknown fields and wrong types are refused."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown configuration fields {unknown}")
        for name, value in values.items():
            kind = str(known[name].type)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = isinstance(value, str)
            ok = {"int": number and isinstance(value, int), "float": number, "bool": isinstance(value, bool),
                  "str": text, "str | None": value is None or text}[kind]  # fmt: skip
            if not ok:
                raise ValueError(f"configuration field {name} must be {kind}, got {value!r}")
        return cls(**values)

    def lr_factor(self, step: int, total_steps: int) -> float:
        """The learning rate of optimizer step ``step`` (from 0) as a fraction of ``lr``."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.schedule == "constant":
            return warm
        return warm * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))

    def check(self, world_size: int = 1) -> None:
        """Raise ``ValueError`` naming the first field out of range (the backend's availability is the
        caller's: it depends on the machine)."""
        for name, choices in (("task", TASKS), ("model", MODELS), ("norm", NORMS), ("schedule", SCHEDULES),
                              ("backend", tuple(BACKENDS))):  # fmt: skip
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if not (0 if name == "warmup" else 1) <= value <= limit:
                raise ValueError(f"{name} must be between {0 if name == 'warmup' else 1} and {limit}, got {value}")
        if self.d_state % 2:
            raise ValueError(f"d_state must be even (complex modes come in pairs), got {self.d_state}")
        if self.context < 2:
            raise ValueError(f"context must be >= 2, got {self.context}")
        for name, low, high in (("lr", 0, 10), ("ssm_lr", 0, 10)):
            value = getattr(self, name)
            if not (math.isfinite(value) and low < value <= high):
                raise ValueError(f"{name} must be a number in ({low}, {high}], got {value}")
        for name in ("weight_decay", "grad_clip"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.model == "s4d" and self.backend != "torch":
            raise ValueError("the s4d baseline has no neuron: --backend applies to spiking models only")
        if self.model != "spike-ssm" and (self.learn_decays or self.fixed_thresholds):
            raise ValueError("--learn-decays and --fixed-thresholds set the SRR neuron of --model spike-ssm")
        if self.batch % world_size:
            raise ValueError(f"batch {self.batch} must divide evenly over {world_size} processes")
        if self.task in LANGUAGE_TASKS and self.bidirectional:
            raise ValueError("a language model must be causal: --bidirectional is for classification")
