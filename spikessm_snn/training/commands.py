"""The ``spikessm train`` and ``spikessm evaluate`` subcommands: their flags and what they run."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .. import argtypes
from ..backends.registry import BACKENDS
from ..data.tasks import TASKS
from .config import MODELS, NORMS, SCHEDULES, TrainConfig
from .evaluation import evaluate
from .trainer import train

DEFAULTS = TrainConfig()

# (flag, type or "switch", choices, help) for every TrainConfig field, in the order --help shows them.
TRAIN_FLAGS: list[tuple[str, object, tuple[str, ...] | None, str]] = [
    ("task", str, TASKS, "what to learn; every task but digits reads --data-dir"),
    ("data_dir", str, None, "folder of the task's files (e.g. from 'spikessm listops-generate')"),
    ("model", str, MODELS, "SPikE-SSM (SRR neuron), SpikingSSM (reset-LIF) or the S4D baseline (GELU)"),
    ("backend", str, tuple(BACKENDS), "how the neurons compute a sequence ('cupy' needs a CUDA GPU)"),
    ("d_model", int, None, "channels of each block"),
    ("d_state", int, None, "S4D state size N (even)"),
    ("layers", int, None, "blocks in the residual stack"),
    ("norm", str, NORMS, "normalisation after (or before, --prenorm) each block"),
    ("prenorm", "switch", None, "normalise each block's input instead of the residual sum"),
    ("dropout", float, None, "dropout after each block's activation and on the residual branch"),
    ("bidirectional", "switch", None, "S4D over past and future inputs (classification only)"),
    ("trainable_b", "switch", None, "train S4D's input matrix B (an SSM parameter: --ssm-lr, no weight decay)"),
    ("detach_reset", "switch", None, "no gradient through the neurons' reset"),
    ("learn_decays", "switch", None, "spike-ssm: train the SRR decays tau, tau_r per channel"),
    ("fixed_thresholds", "switch", None, "spike-ssm: keep U_th = v_th = 1 instead of training them per channel"),
    ("epochs", int, None, "passes over the training set"),
    ("batch", int, None, "global batch (split evenly over torchrun processes)"),
    ("lr", float, None, "AdamW learning rate"),
    ("ssm_lr", float, None, "learning rate of the SSM parameters A, dt, B: min(lr, ssm_lr)"),
    ("weight_decay", float, None, "AdamW weight decay (not on the SSM parameters)"),
    ("schedule", str, SCHEDULES, "learning rate over the run: constant, or cosine down to 0 at the last step"),
    ("warmup", int, None, "optimizer steps of linear warm-up"),
    ("grad_clip", float, None, "clip the gradient's global norm to this (0: no clipping)"),
    ("context", int, None, "tokens per window (language modelling)"),
    ("seed", int, None, "seed of the initialisation, the batches and dropout"),
]


def train_arguments(config: TrainConfig) -> list[str]:
    """The ``spikessm train`` flags that give ``config`` (``--data-dir`` left to the caller)."""
    flags: list[str] = []
    for name, kind, _, _ in TRAIN_FLAGS:
        value, flag = getattr(config, name), "--" + name.replace("_", "-")
        if kind == "switch":
            flags += [flag] if value else []
        elif name != "data_dir":
            flags += [flag, str(value)]
    return flags


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    train_cmd = commands.add_parser(
        "train", help="train a sequence classifier or language model (torchrun for several GPUs)",
        description="Train a SPikE-SSM, SpikingSSM or S4D model. Each epoch appends to <out>/metrics.jsonl and "
                    "writes <out>/checkpoint.pt; the model best on the validation split is kept in it. "
                    "Several GPUs: torchrun --nproc_per_node N -m spikessm_snn.cli train ...",
    )  # fmt: skip
    for name, kind, choices, text in TRAIN_FLAGS:
        flag = "--" + name.replace("_", "-")
        if kind == "switch":
            train_cmd.add_argument(flag, action="store_true", help=text)
        else:
            default = getattr(DEFAULTS, name)
            train_cmd.add_argument(flag, type=kind, choices=choices, default=default, metavar=None if choices else
                                   name.upper(), help=f"{text} (default: {default})")  # fmt: skip
    train_cmd.add_argument("--out", type=Path, default=Path("runs/train"),
                           help="folder of the checkpoint and metrics (default: runs/train)")  # fmt: skip
    train_cmd.add_argument("--resume", action="store_true",
                           help="continue the run in --out (a new run starts, with a message, where there is none)")
    train_cmd.add_argument("--time-limit", type=argtypes.positive_float, default=None, metavar="SECONDS",
                           help="stop after the last epoch that ends within this many seconds (--resume continues)")
    train_cmd.add_argument("--workers", type=argtypes.at_least(0), default=None,
                           help="data loader processes (default: 4 on a GPU, 0 on a CPU)")  # fmt: skip
    train_cmd.set_defaults(run=run_train)


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate_cmd = commands.add_parser(
        "evaluate", help="accuracy and per-layer spike rates of a checkpoint or weights file",
        description="Evaluate a checkpoint (its best-on-validation weights) or a weights file, on the GPU where "
                    "there is one. A backend that cannot run here is replaced by the exact 'torch' loop.",
    )  # fmt: skip
    evaluate_cmd.add_argument("checkpoint", type=Path, help="a checkpoint.pt of 'spikessm train' or a weights file")
    evaluate_cmd.add_argument("--data-dir", default=None, help="folder of the task's files (default: the run's)")
    evaluate_cmd.add_argument("--backend", choices=tuple(BACKENDS), default=None,
                              help="neuron backend (default: the run's, if it can run here)")  # fmt: skip
    evaluate_cmd.add_argument("--limit", type=argtypes.at_least(1), default=None, metavar="N",
                              help="evaluate the first N sequences only")  # fmt: skip
    evaluate_cmd.add_argument("--split", choices=("val", "test"), default="test", help="which split (default: test)")
    evaluate_cmd.set_defaults(run=run_evaluate)


def run_train(args: argparse.Namespace) -> None:
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    train(config, args.out, resume=args.resume, time_limit=args.time_limit, workers=args.workers)


def run_evaluate(args: argparse.Namespace) -> None:
    print(json.dumps(evaluate(args.checkpoint, args.data_dir, args.backend, args.limit, args.split)))
