"""The ``spikessm train`` and ``spikessm evaluate`` subcommands: their flags and what they run."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .trainer import TrainConfig
from .trainer import evaluate as evaluate_checkpoint
from .trainer import train as train_model


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a sequence classifier (torchrun for several GPUs)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type in (bool, "bool"):
            train.add_argument(flag, action="store_true", default=field.default)
        else:
            kind = {"int": int, "float": float}.get(str(field.type), str)
            train.add_argument(flag, type=kind, default=field.default)
    train.add_argument("--out", type=Path, default=Path("runs/train"), help="checkpoint and metrics folder")
    train.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    train.set_defaults(run=run_train)


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="test accuracy and spike rates of a checkpoint")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--data-dir", default=None)
    evaluate.set_defaults(run=run_evaluate)


def run_train(args: argparse.Namespace) -> None:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    train_model(config, args.out, resume=args.resume)


def run_evaluate(args: argparse.Namespace) -> None:
    print(json.dumps(evaluate_checkpoint(args.checkpoint, args.data_dir)))
