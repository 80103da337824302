"""spikessm train: exact resume, model selection on validation, DDP through torchrun matches one
process (LayerNorm and synchronised BatchNorm), parameter groups, clear errors."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spikessm_snn import checkpoints
from spikessm_snn.checkpoints import CheckpointError
from spikessm_snn.data.listops import generate_files
from spikessm_snn.training.config import TrainConfig
from spikessm_snn.training.trainer import best_epoch, build_model, parameter_groups, train

SMALL = TrainConfig(task="digits", d_model=16, d_state=8, layers=2, epochs=3, batch=128, norm="layer", dropout=0.1,
                    schedule="cosine", warmup=5, grad_clip=1.0)  # fmt: skip
TORCHRUN = Path(sys.executable).parent / "torchrun"


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


def _epochs(path: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_a_run_interrupted_after_its_checkpoint_resumes_to_the_same_weights_and_metrics(tmp_path, monkeypatch) -> None:
    straight = train(SMALL, tmp_path / "a", progress=False)
    real_save = checkpoints.atomic_save

    def save_then_die(obj, path):  # dies between the checkpoint and the metrics line of epoch 2
        real_save(obj, path)
        if obj["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "atomic_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(SMALL, tmp_path / "b", progress=False)
    assert _epochs(tmp_path / "b") == [1]
    monkeypatch.setattr(checkpoints, "atomic_save", real_save)
    resumed = train(SMALL, tmp_path / "b", resume=True, progress=False)
    for name, value in _weights(tmp_path / "a").items():
        assert torch.equal(value, _weights(tmp_path / "b")[name]), name
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]
    assert _epochs(tmp_path / "b") == [1, 2, 3]
    assert all(0 < rate < 1 for rate in straight[-1]["spike_rates"].values())
    assert all(0 < rate < 1 for rate in straight[-1]["train_spike_rates"].values())


def test_a_killed_cli_run_resumes_to_the_uninterrupted_metrics(tmp_path) -> None:
    args = [sys.executable, "-m", "spikessm_snn.cli", "train", "--task", "digits", "--epochs", "2", "--d-model", "8",
            "--d-state", "4", "--layers", "2", "--norm", "batch", "--batch", "128"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*args, "--out", str(tmp_path / "a")], check=True, capture_output=True, env=env)
    run = subprocess.Popen([*args, "--out", str(tmp_path / "b")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    metrics = tmp_path / "b" / "metrics.jsonl"
    while run.poll() is None and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    subprocess.run([*args, "--out", str(tmp_path / "b"), "--resume"], check=True, capture_output=True, env=env)
    lines = [(tmp_path / name / "metrics.jsonl").read_text().splitlines() for name in "ab"]
    strip = [[{k: v for k, v in json.loads(line).items() if "seconds" not in k} for line in run] for run in lines]
    assert strip[0] == strip[1] and [r["epoch"] for r in strip[1]] == [1, 2]


def test_the_time_limit_stops_at_an_epoch_boundary_and_resume_finishes_the_same_run(tmp_path) -> None:
    straight = train(SMALL, tmp_path / "a", progress=False)
    stopped = train(SMALL, tmp_path / "b", progress=False, time_limit=1e-3)
    assert len(stopped) == 1 and _epochs(tmp_path / "b") == [1]
    resumed = train(SMALL, tmp_path / "b", resume=True, progress=False)
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]


def test_resuming_with_another_configuration_names_the_fields_and_more_epochs_extend_the_run(tmp_path) -> None:
    one = dataclasses.replace(SMALL, epochs=1)
    train(one, tmp_path, progress=False)
    with pytest.raises(CheckpointError, match=r"another configuration \(lr: 0.01 -> 0.5; seed: 0 -> 3\)"):
        train(dataclasses.replace(one, lr=0.5, seed=3), tmp_path, resume=True, progress=False)
    assert len(train(dataclasses.replace(one, epochs=2), tmp_path, resume=True, progress=False)) == 2


def test_a_folder_that_holds_a_run_is_not_overwritten_and_resume_without_one_says_so(tmp_path, capsys) -> None:
    one = dataclasses.replace(SMALL, epochs=1)
    train(one, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match="already holds a run: pass --resume"):
        train(one, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before
    train(one, tmp_path / "new", resume=True)
    assert "no checkpoint in" in capsys.readouterr().err


def test_the_model_is_selected_on_validation_and_kept_in_the_checkpoint(tmp_path) -> None:
    history = [{"epoch": 1, "val_accuracy": 0.5, "test_accuracy": 0.9}, {"epoch": 2, "val_accuracy": 0.7,
               "test_accuracy": 0.6}, {"epoch": 3, "val_accuracy": 0.7, "test_accuracy": 0.8}]  # fmt: skip
    assert best_epoch(history)["epoch"] == 2  # the first of the best on validation; test is never looked at
    assert best_epoch([{"epoch": 1, "val_perplexity": 9.0}, {"epoch": 2, "val_perplexity": 5.0}])["epoch"] == 2
    records = train(SMALL, tmp_path, progress=False)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["best"]["epoch"] == best_epoch(records)["epoch"]
    assert all({"val_accuracy", "test_accuracy", "grad_norm", "loss"} <= set(r) for r in records)


@pytest.mark.parametrize(("model", "neuron_parameters"), [("spike-ssm", {"threshold.raw", "refractory.raw"}),
                                                         ("spikingssm", {"ln_vth"}), ("s4d", set())])  # fmt: skip
def test_b_dt_a_and_the_neuron_constants_are_the_slow_group_without_weight_decay(model, neuron_parameters) -> None:
    config = dataclasses.replace(SMALL, model=model, trainable_b=True, lr=0.01, ssm_lr=0.001, weight_decay=0.05)
    model = build_model(config, 1, 10)
    plain, ssm = parameter_groups(model, config)
    names = {id(p): n for n, p in model.named_parameters()}
    ssm_names = {names[id(p)].split(".", 3)[-1].removeprefix("neuron.").removeprefix("kernel.") for p in ssm["params"]}
    assert ssm_names == {"B", "log_dt", "log_A_real", "A_imag"} | neuron_parameters
    assert (ssm["lr"], ssm["weight_decay"], plain["lr"], plain["weight_decay"]) == (0.001, 0.0, 0.01, 0.05)
    assert len(plain["params"]) + len(ssm["params"]) == len(list(model.parameters()))


@pytest.mark.skipif(not TORCHRUN.exists() and shutil.which("torchrun") is None, reason="needs torchrun")
@pytest.mark.parametrize("task", [pytest.param("digits", marks=pytest.mark.slow), "listops"])
def test_two_processes_under_torchrun_follow_the_single_process_loss_curve(task, tmp_path) -> None:
    """LayerNorm on digits; on ListOps (variable lengths, bucketed batches) BatchNorm, whose
    statistics over the real steps are synchronised between the processes."""
    args = ["-m", "spikessm_snn.cli", "train", "--task", task, "--epochs", "2", "--d-model", "16", "--d-state", "4",
            "--layers", "2"]  # fmt: skip
    if task == "digits":
        args += ["--norm", "layer", "--batch", "128"]
    else:
        generate_files(tmp_path / "data", train=48, val=8, test=8, min_length=20, max_length=120, workers=1)
        args += ["--norm", "batch", "--bidirectional", "--batch", "8", "--data-dir", str(tmp_path / "data")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU processes (gloo), GPU or not
    torchrun = str(TORCHRUN) if TORCHRUN.exists() else shutil.which("torchrun")
    for name, command in (("one", [sys.executable]), ("two", [torchrun, "--nproc_per_node", "2"])):
        done = subprocess.run([*command, *args, "--out", str(tmp_path / name)], capture_output=True, text=True,
                              env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    records = [[json.loads(line) for line in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
               for n in ("one", "two")]  # fmt: skip
    assert [r["loss"] for r in records[1]] == pytest.approx([r["loss"] for r in records[0]], rel=1e-4)
    assert records[0][0]["loss"] != records[0][1]["loss"]  # it trains
    assert [r["val_accuracy"] for r in records[1]] == pytest.approx([r["val_accuracy"] for r in records[0]])


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "transformer"}, "model must be one of"), ({"layers": 0}, "layers must be between 1"),
    ({"model": "s4d", "backend": "pmbc"}, "no neuron"), ({"dropout": 1.0}, "dropout"),
    ({"task": "imagenet"}, "task must be one of"), ({"task": "listops"}, "reads its data from --data-dir"),
    ({"schedule": "step"}, "schedule must be"), ({"warmup": -1}, "warmup"), ({"grad_clip": -1.0}, "grad_clip"),
    ({"lr": float("inf")}, "lr must be"), ({"lr": -1.0}, "lr must be"), ({"norm": "group"}, "norm must be"),
    ({"d_state": 3}, "d_state must be even"), ({"d_model": 200_000}, "d_model must be between"),
    ({"batch": 5000}, "larger than the"), ({"model": "s4d", "learn_decays": True}, "learn-decays"),
])  # fmt: skip
def test_bad_configurations_raise_before_writing_anything(changes, message, tmp_path) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train(dataclasses.replace(SMALL, **changes), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


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


def test_every_configuration_field_is_a_documented_cli_flag() -> None:
    from spikessm_snn.training.commands import TRAIN_FLAGS

    assert sorted(name for name, *_ in TRAIN_FLAGS) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert all(text for *_, text in TRAIN_FLAGS)


def test_train_arguments_give_back_the_configuration() -> None:
    import argparse

    from spikessm_snn.training.commands import add_train_parser, train_arguments

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    config = dataclasses.replace(SMALL, model="spike-ssm", backend="pmbc", bidirectional=True, learn_decays=True,
                                 data_dir="somewhere")  # fmt: skip
    args = parser.parse_args(["train", *train_arguments(config), "--data-dir", "somewhere"])
    assert TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}) == config
