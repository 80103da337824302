"""spikessm train: exact resume, DDP through torchrun matches one process, clear errors."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikessm_snn import checkpoints
from spikessm_snn.training.trainer import TrainConfig, evaluate, train

SMALL = TrainConfig(task="digits", d_model=16, d_state=8, layers=2, epochs=3, norm="layer", dropout=0.1,
                    schedule="cosine", warmup=5, grad_clip=1.0)  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


def test_an_interrupted_run_resumes_to_the_same_weights_and_metrics(tmp_path, monkeypatch) -> None:
    straight = train(SMALL, tmp_path / "a", progress=False)
    real_save = checkpoints.atomic_save

    def save_then_die(obj, path):
        real_save(obj, path)
        if obj["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "atomic_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(SMALL, tmp_path / "b", progress=False)
    monkeypatch.setattr(checkpoints, "atomic_save", real_save)
    resumed = train(SMALL, tmp_path / "b", resume=True, progress=False)
    for name, value in _weights(tmp_path / "a").items():
        assert torch.equal(value, _weights(tmp_path / "b")[name]), name
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert all(0 < rate < 1 for rate in straight[-1]["spike_rates"].values())
    result = evaluate(tmp_path / "a" / "checkpoint.pt")
    assert result["test_accuracy"] == pytest.approx(straight[-1]["test_accuracy"])


def test_resuming_with_another_configuration_is_refused(tmp_path) -> None:
    train(TrainConfig(**{**SMALL.__dict__, "epochs": 1}), tmp_path, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(TrainConfig(**{**SMALL.__dict__, "epochs": 1, "lr": 0.5}), tmp_path, resume=True, progress=False)


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="needs torchrun")  # fmt: skip
def test_two_processes_under_torchrun_follow_the_single_process_loss_curve(tmp_path) -> None:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    args = ["-m", "spikessm_snn.cli", "train", "--task", "digits", "--epochs", "2", "--d-model", "16",
            "--d-state", "8", "--layers", "2", "--norm", "layer"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU processes (gloo), GPU or not
    for name, command in (("one", [sys.executable]), ("two", [torchrun, "--nproc_per_node", "2"])):
        done = subprocess.run([*command, *args, "--out", str(tmp_path / name)], capture_output=True, text=True,
                              env=env, timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    curves = [[json.loads(line)["loss"] for line in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
              for n in ("one", "two")]  # fmt: skip
    assert curves[1] == pytest.approx(curves[0], rel=1e-4)


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "transformer"}, "unknown model"), ({"layers": 0}, "layers must be >= 1"),
    ({"model": "s4d", "backend": "pmbc"}, "no neuron"), ({"dropout": 1.0}, "dropout"),
    ({"task": "imagenet"}, "unknown task"), ({"task": "listops"}, "reads its data from --data-dir"),
    ({"schedule": "step"}, "schedule must be"), ({"warmup": -1}, "warmup"), ({"grad_clip": -1.0}, "grad_clip"),
])  # fmt: skip
def test_bad_configurations_raise(changes, message, tmp_path) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train(TrainConfig(**{**SMALL.__dict__, **changes}), tmp_path, progress=False)


def test_the_cosine_schedule_warms_up_then_decays_to_zero() -> None:
    config = TrainConfig(schedule="cosine", warmup=10)
    factors = [config.lr_factor(step, 100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1 * 0.5 * (1 + torch.cos(torch.tensor(0.0)).item()))
    assert max(factors) == factors[9] > 0.97
    assert all(a > b for a, b in itertools.pairwise(factors[9:])) and factors[-1] < 1e-3
    assert [TrainConfig().lr_factor(step, 100) for step in (0, 50, 99)] == [1.0, 1.0, 1.0]


def test_more_processes_than_gpus_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RuntimeError, match="needs a GPU of its own, but 1 are visible"):
        train(SMALL, tmp_path, progress=False)
