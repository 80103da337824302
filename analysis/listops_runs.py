"""The ListOps comparison on a multi-GPU machine: S4D (control), SpikingSSM and SPikE-SSM, one recipe.

    python analysis/listops_runs.py --seconds 560 --runs .runs/listops --pack $OUT

Generates LRA ListOps at the release's size (96 000 / 2 000 / 2 000, seed 0) if it is missing, then
trains the three models side by side, each on its own GPU(s) (SPikE-SSM with torchrun DDP over two
GPUs when four are visible), every run resuming from its checkpoint, all stopping at an epoch
boundary before ``--seconds`` have passed. The first call measures a training step of each model
on its GPU and fixes the number of epochs that fit ``--budget`` seconds of training (at most the
recipe's 40), written to ``plan.json`` beside the runs (``epochs`` may also name a count per model);
later calls continue that plan (a model given no epochs sits a call out). ``--then CMD`` runs CMD
on the first run's GPU once that run ends. With
``--pack DIR`` each run's folder is packed into ``DIR/<model>.tar`` (checkpoint, metrics, log).

The recipe (``spikingssm-and-sdn.md``): 6 layers, d_model 256, d_state 4, bidirectional, trainable
B, BatchNorm post-norm, dropout 0, batch 32, AdamW lr 0.01 (SSM parameters 0.001, no weight decay),
weight decay 0.01, cosine schedule with 10% warm-up; here also gradient clipping at 1.0, and the
spiking models on the exact fused kernels ('cupy') with the reset detached from the gradient.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikessm_snn.data.batching import batches  # noqa: E402
from spikessm_snn.data.listops import VOCAB, ListOpsDataset, generate_files  # noqa: E402
from spikessm_snn.training.commands import train_arguments  # noqa: E402
from spikessm_snn.training.config import TrainConfig  # noqa: E402
from spikessm_snn.training.trainer import build_model, forward, loss_of, parameter_groups  # noqa: E402

MODELS = ("s4d", "spikingssm", "spike-ssm")
RECIPE = {"task": "listops", "d_model": 256, "d_state": 4, "layers": 6, "norm": "batch", "bidirectional": True,
          "trainable_b": True, "dropout": 0.0, "batch": 32, "lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01,
          "schedule": "cosine", "grad_clip": 1.0, "seed": 0}  # fmt: skip
SPIKING = {"backend": "cupy", "detach_reset": True}
TRAIN_ITEMS = 96_000


def gpus_of(model: str, count: int) -> list[int]:
    """Model -> its GPUs: one each, and the fourth to SPikE-SSM (DDP) when there is one."""
    if count >= 4:
        return {"s4d": [0], "spikingssm": [1], "spike-ssm": [2, 3]}[model]
    return [MODELS.index(model) % count]


def config_of(model: str, epochs: int) -> TrainConfig:
    steps = epochs * (TRAIN_ITEMS // RECIPE["batch"])
    return TrainConfig(model=model, epochs=epochs, warmup=steps // 10, **RECIPE, **(SPIKING if model != "s4d" else {}))


def step_seconds(model: str, data: Path, processes: int, steps: int = 20) -> float:
    """Median seconds of a training step of ``model`` on this GPU, at its per-process batch, on real
    bucketed batches (CUDA events, after warm-up)."""
    config = config_of(model, 1)
    sample = torch.utils.data.Subset(ListOpsDataset(data / "basic_val.tsv"), range(1024))
    device = torch.device("cuda")
    net = build_model(config, len(VOCAB), 10).to(device)
    optimizer = torch.optim.AdamW(parameter_groups(net, config))
    times = []
    for i, batch in enumerate(batches(sample, config.batch // processes, shuffle=True)):
        if i == steps + 5:
            break
        batch = batch.to(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss = loss_of(forward(net, batch), batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        end.record()
        end.synchronize()
        if i >= 5:
            times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def plan(runs: Path, data: Path, budget: float) -> dict:
    """Epochs that fit ``budget`` seconds for the slowest model (measured here), at most 40."""
    path = runs / "plan.json"
    if path.exists():
        return json.loads(path.read_text())
    count = torch.cuda.device_count()
    epoch_seconds = {}
    for model in MODELS:
        processes = len(gpus_of(model, count))
        seconds = step_seconds(model, data, processes)
        # steps per epoch, plus evaluation (val + test, forward only: about a third of a step per 64 items)
        epoch_seconds[model] = seconds * (TRAIN_ITEMS // RECIPE["batch"]) * 1.08 + seconds * 4000 / 64 / 3 * 2
        print(f"plan: {model} on {processes} GPU(s): {seconds * 1e3:.1f} ms a step, about "
              f"{epoch_seconds[model]:.0f} s an epoch", flush=True)  # fmt: skip
    epochs = max(1, min(40, int(budget // max(epoch_seconds.values()))))
    result = {"epochs": epochs, "budget_seconds": budget, "epoch_seconds_estimate": epoch_seconds,
              "gpus": {m: gpus_of(m, count) for m in MODELS}, "device": torch.cuda.get_device_name(0)}  # fmt: skip
    runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def launch(model: str, config: TrainConfig, gpus: list[int], out: Path, data: Path, seconds: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "spikessm_snn.cli"] if len(gpus) == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(len(gpus)),
        "-m", "spikessm_snn.cli"]  # fmt: skip
    command += ["train", *train_arguments(config), "--data-dir", str(data), "--out", str(out), "--resume",
                "--time-limit", f"{seconds:.0f}"]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus)), "PYTHONUNBUFFERED": "1"}
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "train.log").open("a")
    print(f"launch {model} on GPU {gpus}: {' '.join(command)}", flush=True)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, required=True, help="wall-clock seconds this call may use")
    parser.add_argument("--budget", type=float, default=1300, help="training seconds over all calls (first call)")
    parser.add_argument("--runs", type=Path, default=ROOT / ".runs" / "listops")
    parser.add_argument("--data", type=Path, default=Path("/tmp/listops"))
    parser.add_argument("--pack", type=Path, default=None, help="pack each run's folder into DIR/<model>.tar")
    parser.add_argument("--margin", type=float, default=45, help="seconds kept for packing at the end")
    parser.add_argument("--then", default=None, help="a shell command for the first run's GPU once that run ends")
    args = parser.parse_args()
    started = time.monotonic()
    if not (args.data / "basic_test.tsv").exists():
        generate_files(args.data, progress=False)
        print(f"generated ListOps in {time.monotonic() - started:.0f} s", flush=True)
    chosen = plan(args.runs, args.data, args.budget)
    print(json.dumps(chosen), flush=True)
    left = args.seconds - (time.monotonic() - started) - args.margin
    epochs = chosen["epochs"] if isinstance(chosen["epochs"], dict) else dict.fromkeys(MODELS, chosen["epochs"])
    active = [model for model in MODELS if epochs.get(model)]  # a plan may leave a model out of this call
    runs = {model: launch(model, config_of(model, epochs[model]), chosen["gpus"][model], args.runs / model,
                          args.data, left) for model in active}  # fmt: skip
    then = None
    for model, process in runs.items():
        process.wait()
        print(f"{model}: exit {process.returncode}; last lines:", flush=True)
        lines = (args.runs / model / "train.log").read_text().splitlines()
        print("\n".join(line[:400] for line in lines[-3:]), flush=True)
        if model == active[0] and args.then:  # the first run's GPU takes the next job
            remaining = args.seconds - (time.monotonic() - started) - args.margin
            print(f"then, on GPU {chosen['gpus'][model]} for at most {remaining:.0f} s: {args.then}", flush=True)
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, chosen["gpus"][model]))}
            then = subprocess.Popen(["timeout", f"{max(remaining, 1):.0f}", "bash", "-c", args.then], cwd=ROOT, env=env)
    if then is not None:
        print(f"then: exit {then.wait()}", flush=True)
    if args.pack:
        args.pack.mkdir(parents=True, exist_ok=True)
        for model in active:
            with tarfile.open(args.pack / f"{model}.tar", "w") as tar:
                tar.add(args.runs / model, arcname=model)
        (args.pack / "plan.json").write_text((args.runs / "plan.json").read_text())
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
