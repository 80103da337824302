"""spikessm evaluate: any checkpoint on any machine, weights files with their checksum, and files that
are damaged, foreign or hostile refused with one clear line before anything is allocated."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikessm_snn.checkpoints import CheckpointError, export_weights, read_checkpoint
from spikessm_snn.training.config import TrainConfig
from spikessm_snn.training.evaluation import evaluate, load_model
from spikessm_snn.training.trainer import train

RUN = TrainConfig(task="digits", model="spike-ssm", d_model=16, d_state=8, layers=2, epochs=2, batch=128)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("run")
    return out / "checkpoint.pt", train(RUN, out, progress=False)


def _rewritten(source: Path, target: Path, **changes) -> Path:
    saved = torch.load(source, weights_only=True)
    saved["config"] = {**saved["config"], **changes}
    torch.save(saved, target)
    return target


def test_evaluate_gives_the_best_epochs_validation_and_test_accuracy(run) -> None:
    checkpoint, history = run
    best = max(history, key=lambda r: r["val_accuracy"])
    for split in ("val", "test"):
        result = evaluate(checkpoint, split=split)
        assert result["accuracy"] == pytest.approx(best[f"{split}_accuracy"]) and result["epoch"] == best["epoch"]
    assert result["spike_rates"] == pytest.approx(best["spike_rates"], rel=0.5)  # val vs test rates: close
    assert evaluate(checkpoint, limit=5)["items"] == 5


def test_a_checkpoint_trained_on_cupy_is_evaluated_here_on_the_exact_loop(run, tmp_path, capsys) -> None:
    checkpoint, _ = run
    cupy_run = _rewritten(checkpoint, tmp_path / "cupy.pt", backend="cupy")
    result = evaluate(cupy_run, limit=40)
    expected = evaluate(checkpoint, limit=40)
    if torch.cuda.is_available():
        assert result["accuracy"] == expected["accuracy"]
        return
    assert "backend 'cupy' cannot run here" in capsys.readouterr().err
    assert result["backend"] == "torch" and result["device"] == "cpu"
    assert (result["accuracy"], result["spike_rates"]) == (expected["accuracy"], expected["spike_rates"])


def test_a_weights_file_is_evaluated_and_its_checksum_verified(run, tmp_path) -> None:
    checkpoint, _ = run
    saved = torch.load(checkpoint, weights_only=True)
    weights = tmp_path / "weights.pt"
    export_weights(weights, RUN, saved["best"]["model"], {"epoch": saved["best"]["epoch"]}, d_input=1, classes=10)
    assert evaluate(weights, limit=30)["accuracy"] == evaluate(checkpoint, limit=30)["accuracy"]
    blob = torch.load(weights, weights_only=True)
    name = next(iter(blob["model"]))
    blob["model"][name] = blob["model"][name] + 1e-3
    torch.save(blob, tmp_path / "changed.pt")
    with pytest.raises(CheckpointError, match="do not match its checksum"):
        load_model(tmp_path / "changed.pt")


@pytest.mark.parametrize(("contents", "message"), [
    (None, "does not exist"), (b"", "is empty"), (b"epoch,loss\n1,2\n", "not a readable checkpoint"),
    (os.urandom(4096), "not a readable checkpoint"), ("truncated", "not a readable checkpoint"),
    ({"config": {}, "epoch": 1}, "lacks"), ("folder", "is not a file"),
])  # fmt: skip
def test_damaged_and_foreign_files_are_refused_with_one_clear_line(contents, message, run, tmp_path) -> None:
    path = tmp_path / "file.pt"
    if contents == "truncated":
        path.write_bytes(run[0].read_bytes()[:5000])
    elif contents == "folder":
        path.mkdir()
    elif isinstance(contents, dict):
        torch.save(contents, path)
    elif contents is not None:
        path.write_bytes(contents)
    with pytest.raises(CheckpointError, match=message) as error:
        load_model(path)
    assert "\n" not in str(error.value) and "weights_only" not in str(error.value)


@pytest.mark.parametrize(("changes", "message"), [
    ({"d_model": 200_000}, "d_model must be between"), ({"layers": 64}, "do not fit its configuration"),
    ({"model": "os.system"}, "model must be one of"), ({"lr": "0.1"}, "lr must be float"),
    ({"evil": 1}, "unknown configuration fields"),
])  # fmt: skip
def test_a_hostile_configuration_is_refused_before_the_model_is_built(changes, message, run, tmp_path) -> None:
    path = _rewritten(run[0], tmp_path / "hostile.pt", **changes)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_the_cli_evaluates_with_overrides_and_its_mistakes_are_one_line(run, tmp_path) -> None:
    cli = [sys.executable, "-m", "spikessm_snn.cli", "evaluate"]
    done = subprocess.run([*cli, str(run[0]), "--limit", "20", "--backend", "pmbc"], capture_output=True, text=True)
    assert done.returncode == 0 and '"items": 20' in done.stdout and '"backend": "pmbc"' in done.stdout
    assert read_checkpoint(run[0])["config"] == dataclasses.asdict(RUN)  # evaluate never rewrites the file


def test_the_export_script_keeps_the_best_epoch_and_its_record(run, tmp_path) -> None:
    checkpoint, history = run
    weights = tmp_path / "exported.pt"
    script = Path(__file__).resolve().parents[2] / "analysis" / "export_weights.py"
    subprocess.run([sys.executable, str(script), str(checkpoint), str(weights), "--trained-on", "a CPU"], check=True,
                   capture_output=True)  # fmt: skip
    saved = read_checkpoint(weights)
    best = max(history, key=lambda r: r["val_accuracy"])
    assert saved["metrics"] == {**best, "epochs": len(history), "trained_on": "a CPU", "data": ""}
    assert "optimizer" not in saved and "history" not in saved
    assert evaluate(weights)["accuracy"] == pytest.approx(best["test_accuracy"])
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "none.pt"), str(weights)],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.strip().endswith("none.pt does not exist")
