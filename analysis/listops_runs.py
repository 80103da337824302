"""The ListOps comparison on a multi-GPU machine: S4D (control), SpikingSSM and SPikE-SSM, one recipe.

    python analysis/listops_runs.py --seconds 560 --runs .runs/listops --pack $OUT

Generates LRA ListOps at the release's size (96 000 / 2 000 / 2 000, seed 0) if it is missing, then
trains the runs of ``RUNS`` side by side, one GPU each (round robin where there are fewer GPUs than
runs), every run resuming from its checkpoint, all stopping at an epoch boundary before ``--seconds``
have passed. With ``--pack DIR`` each run's folder is packed into ``DIR/<run>.tar`` (checkpoint,
metrics, log) and the plan is copied there.

The recipe (``spikingssm-and-sdn.md``): 6 layers, d_model 256, d_state 4, bidirectional, trainable
B, BatchNorm post-norm, dropout 0, batch 32, AdamW lr 0.01 (SSM parameters 0.001, no weight decay),
weight decay 0.01, cosine schedule with 10% warm-up, 40 epochs; here also gradient clipping at 1.0,
and the spiking models on the exact fused kernels ('cupy') with the reset detached from the gradient.
The fourth run is SpikingSSM with the published code's effective wiring (no normalisation of the
residual stream, ``--norm none``).

The first call fixes the plan (``plan.json`` beside the runs; later calls continue it): the runs
(``--models``, default all four) and, unless ``--batch`` fixes it, the batch measured as follows. At batch 32 a
step of these models is bound by the host (about 30 ms a step whatever the length), so 40 epochs do
not fit a session's device time: the first call measures an epoch of the slowest model at global
batches 32, 64 and 128 (and checks that the longest training batch fits in memory), and takes the
smallest batch whose 40 epochs fit ``--budget`` seconds (else the largest, with the epochs that fit).
The learning rates scale with the square root of the batch (AdamW's square-root rule), the warm-up
stays at 10% of the steps: batch 128 trains at lr 0.02 and SSM lr 0.002.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikessm_snn.data.batching import Collate, batches  # noqa: E402
from spikessm_snn.data.listops import VOCAB, ListOpsDataset, generate_files  # noqa: E402
from spikessm_snn.training.commands import train_arguments  # noqa: E402
from spikessm_snn.training.config import TrainConfig  # noqa: E402
from spikessm_snn.training.trainer import build_model, parameter_groups, train_epoch  # noqa: E402

RECIPE = {"task": "listops", "d_model": 256, "d_state": 4, "layers": 6, "norm": "batch", "bidirectional": True,
          "trainable_b": True, "dropout": 0.0, "batch": 32, "lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01,
          "schedule": "cosine", "grad_clip": 1.0, "seed": 0}  # fmt: skip
SPIKING = {"backend": "cupy", "detach_reset": True}
RUNS = {"s4d": {"model": "s4d"},
        "spikingssm": {"model": "spikingssm", **SPIKING},
        "spike-ssm": {"model": "spike-ssm", **SPIKING},
        "spikingssm-published-wiring": {"model": "spikingssm", "norm": "none", **SPIKING}}  # fmt: skip
TRAIN_ITEMS, EPOCHS, BATCHES = 96_000, 40, (32, 64, 128)


def config_of(run: str, epochs: int, batch: int) -> TrainConfig:
    """The recipe at global ``batch``: learning rates times sqrt(batch / 32), warm-up 10% of the steps."""
    scale = math.sqrt(batch / RECIPE["batch"])
    steps = epochs * (TRAIN_ITEMS // batch)
    return TrainConfig(**{**RECIPE, "batch": batch, "lr": RECIPE["lr"] * scale, "ssm_lr": RECIPE["ssm_lr"] * scale,
                          "epochs": epochs, "warmup": steps // 10, **RUNS[run]})  # fmt: skip


def epoch_seconds(run: str, train: ListOpsDataset, batch: int, sample: int = 2048) -> float | None:
    """Seconds of a training epoch of ``run`` on this GPU at ``batch``, from a timed pass over a seeded
    random sample of the training split (batches already on the GPU, CUDA events, after a warm-up), or
    None where the batch of the longest training sequences does not fit in memory."""
    config, device = config_of(run, 1, batch), torch.device("cuda")
    net = build_model(config, len(VOCAB), 10).to(device)
    optimizer = torch.optim.AdamW(parameter_groups(net, config))

    def clip(_: int) -> torch.Tensor:
        return nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)

    def steps(loaded: list) -> None:  # the training loop's steps, gradient clipping included
        train_epoch(net, loaded, optimizer, device, clip)

    longest = train.lengths.argsort(descending=True)[:batch].tolist()
    try:
        steps([Collate(train)(longest).to(device)])
        torch.cuda.synchronize()
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        torch.cuda.empty_cache()
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:sample].tolist()
    loaded = [b.to(device) for b in batches(torch.utils.data.Subset(train, chosen), batch, shuffle=True)]
    steps(loaded[:2])
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    steps(loaded)
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 * TRAIN_ITEMS / sample * 1.05  # 5% for evaluation


def plan(runs: Path, data: Path, budget: float, names: list[str], batch: int | None = None) -> dict:
    """The batch and epochs that fit ``budget`` seconds for the slowest run (measured here), or 40 epochs
    at ``batch`` where it is given (nothing measured)."""
    path = runs / "plan.json"
    if path.exists():
        return json.loads(path.read_text())
    if batch is None:
        train = ListOpsDataset(data / "basic_train.tsv")
        measured = {b: {run: epoch_seconds(run, train, b) for run in ("spikingssm", "spike-ssm")}
                    for b in BATCHES}  # fmt: skip
        print(f"plan: seconds an epoch (None: out of memory) {measured}", flush=True)
        slowest = {b: max(s.values()) for b, s in measured.items() if None not in s.values()}
        batch = next((b for b, s in slowest.items() if EPOCHS * s <= budget), max(slowest))
        epochs = max(1, min(EPOCHS, int(budget // slowest[batch])))
    else:
        measured, epochs = f"not measured: batch {batch} given with --batch", EPOCHS
    count = torch.cuda.device_count()
    config = config_of("s4d", epochs, batch)
    result = {"epochs": epochs, "batch": batch, "lr": config.lr, "ssm_lr": config.ssm_lr, "budget_seconds": budget,
              "epoch_seconds_estimate": measured, "gpus": {run: i % count for i, run in enumerate(names)},
              "device": torch.cuda.get_device_name(0)}  # fmt: skip
    runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def launch(run: str, config: TrainConfig, gpu: int, out: Path, data: Path, seconds: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "spikessm_snn.cli", "train", *train_arguments(config), "--data-dir", str(data),
               "--out", str(out), "--resume", "--time-limit", f"{seconds:.0f}", "--workers", "3"]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu), "PYTHONUNBUFFERED": "1"}
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "train.log").open("a")
    print(f"launch {run} on GPU {gpu}: {' '.join(command)}", flush=True)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, required=True, help="wall-clock seconds this call may use")
    parser.add_argument("--budget", type=float, default=1250, help="training seconds over all calls (first call)")
    parser.add_argument("--runs", type=Path, default=ROOT / ".runs" / "listops")
    parser.add_argument("--data", type=Path, default=Path("/tmp/listops"))
    parser.add_argument("--pack", type=Path, default=None, help="pack each run's folder into DIR/<run>.tar")
    parser.add_argument("--margin", type=float, default=40, help="seconds kept for packing at the end")
    parser.add_argument("--batch", type=int, choices=BATCHES, help="first call: 40 epochs at this batch, unmeasured")
    parser.add_argument("--models", nargs="+", choices=list(RUNS), default=list(RUNS), help="first call: the runs")
    args = parser.parse_args()
    started = time.monotonic()
    if not (args.data / "basic_test.tsv").exists():
        generate_files(args.data, progress=False)
        print(f"generated ListOps in {time.monotonic() - started:.0f} s", flush=True)
    chosen = plan(args.runs, args.data, args.budget, args.models, args.batch)
    print(json.dumps(chosen), flush=True)
    left = args.seconds - (time.monotonic() - started) - args.margin
    processes = {run: launch(run, config_of(run, chosen["epochs"], chosen["batch"]), gpu, args.runs / run,
                             args.data, left) for run, gpu in chosen["gpus"].items()}  # fmt: skip
    for run, process in processes.items():
        process.wait()
        lines = (args.runs / run / "train.log").read_text().splitlines()
        tail = "\n".join(line[:400] for line in lines[-3:])
        print(f"{run}: exit {process.returncode}; last lines:\n{tail}", flush=True)
    if args.pack:
        args.pack.mkdir(parents=True, exist_ok=True)
        for run in chosen["gpus"]:
            with tarfile.open(args.pack / f"{run}.tar", "w") as tar:
                tar.add(args.runs / run, arcname=run)
        (args.pack / "plan.json").write_text((args.runs / "plan.json").read_text())
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
