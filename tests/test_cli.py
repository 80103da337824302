"""The spikessm command answers each user mistake with one line, exit code 2 and no traceback,
leaves nothing behind, and documents every flag of every subcommand."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikessm_snn.cli import DESCRIPTION, build_parser, main

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
TRAIN = ["train", "--epochs", "1", "--d-model", "4", "--d-state", "2", "--layers", "1"]  # small, should it run

# (command line, what the one line must say); {tmp} is a fresh folder that holds `file.txt`,
# `metrics.jsonl` and the folder `folder/`. Each case must leave that folder as it was.
MISTAKES = {
    "unknown command": (["frobnicate"], "invalid choice: 'frobnicate'"),
    "unknown flag": (["report", "--bogus"], "unrecognized arguments: --bogus"),
    "unknown train flag": (["train", "--bogus"], "unrecognized arguments: --bogus"),
    "report into a file": (["report", "--out", "{tmp}/file.txt"], "file.txt exists and is not a folder"),
    "report under a file": (["report", "--out", "{tmp}/file.txt/report"], "file.txt exists and is not a folder"),
    "sdn-train tau 0": (["sdn-train", "--tau", "0", "--out", "{tmp}/sdn.pt"], r"--tau: .*\(0, 1\]"),
    "sdn-train tau 1.5": (["sdn-train", "--tau", "1.5", "--out", "{tmp}/sdn.pt"], r"--tau: .*\(0, 1\]"),
    "sdn-train tau text": (["sdn-train", "--tau", "fast", "--out", "{tmp}/sdn.pt"], "--tau: expected a number"),
    "sdn-train epochs 0": (["sdn-train", "--epochs", "0", "--out", "{tmp}/sdn.pt"], "--epochs: .* >= 1"),
    "sdn-train batch -1": (["sdn-train", "--batch", "-1", "--out", "{tmp}/sdn.pt"], "--batch: .* >= 1"),
    "sdn-train lr -1": (["sdn-train", "--lr", "-1", "--out", "{tmp}/sdn.pt"], "--lr: must be a finite number > 0"),
    "sdn-train lr nan": (["sdn-train", "--lr", "nan", "--out", "{tmp}/sdn.pt"], "--lr: must be a finite number > 0"),
    "sdn-train sequences 0": (["sdn-train", "--sequences", "0", "--out", "{tmp}/sdn.pt"], "--sequences: must be"),
    "sdn-train bad device": (["sdn-train", "--device", "toaster", "--out", "{tmp}/sdn.pt"], "not a torch device"),
    "sdn-train into a folder": (
        ["sdn-train", "--steps", "8", "--sequences", "10", "--epochs", "1", "--out", "{tmp}/folder"],
        "is a folder",
    ),
    "sdn-train missing folder": (
        ["sdn-train", "--steps", "8", "--sequences", "10", "--epochs", "1", "--out", "{tmp}/nowhere/sdn.pt"],
        "nowhere does not exist",
    ),
    "listops train -5": (["listops-generate", "--train", "-5", "--out", "{tmp}/lo"], "--train: .* >= 1"),
    "listops val 0": (["listops-generate", "--val", "0", "--out", "{tmp}/lo"], "--val: .* >= 1"),
    "listops test text": (["listops-generate", "--test", "many", "--out", "{tmp}/lo"], "--test: expected an integer"),
    "listops no out": (["listops-generate"], "required: --out"),
    "listops into a file": (
        ["listops-generate", "--train", "2", "--val", "1", "--test", "1", "--out", "{tmp}/file.txt"],
        "exists and is not a folder",
    ),
    "train norm group": ([*TRAIN, "--norm", "group", "--out", "{tmp}/run"], "norm"),
    "train norm group into a folder": ([*TRAIN, "--norm", "group", "--out", "{tmp}/folder"], "norm"),  # kept
    "train lr -1": ([*TRAIN, "--lr", "-1", "--out", "{tmp}/run"], "lr"),
    "train norm group, nested out": ([*TRAIN, "--norm", "group", "--out", "{tmp}/a/b/run"], "norm"),
    "train listops without data": ([*TRAIN, "--task", "listops", "--out", "{tmp}/run"], "listops"),
    "train listops missing data": (
        [*TRAIN, "--task", "listops", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}/run"],
        "nowhere",
    ),
    "evaluate a missing path": (["evaluate", "{tmp}/missing.pt"], "missing.pt"),
    "evaluate a folder": (["evaluate", "{tmp}/folder"], "folder"),
    "evaluate a text file": (["evaluate", "{tmp}/metrics.jsonl"], "metrics.jsonl"),
}
NO_GPU_MISTAKES = {
    "sdn-train on cuda": (["sdn-train", "--device", "cuda", "--out", "{tmp}/sdn.pt"], "no CUDA GPU"),
    "train backend cupy": ([*TRAIN, "--backend", "cupy", "--out", "{tmp}/run"], "cupy"),
}


def _workspace(tmp_path: Path) -> tuple[Path, dict[Path, bytes | None]]:
    tmp = tmp_path / "work"
    (tmp / "folder").mkdir(parents=True)
    (tmp / "file.txt").write_text("not a folder\n")
    (tmp / "metrics.jsonl").write_text('{"epoch": 1, "loss": 2.3, "test_accuracy": 0.1}\n')
    return tmp, _contents(tmp)


def _contents(folder: Path) -> dict[Path, bytes | None]:
    return {p: (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _check_one_line(argv: list[str], expected: str, tmp_path: Path, capsys, monkeypatch) -> None:
    tmp, before = _workspace(tmp_path)
    monkeypatch.chdir(tmp)
    with pytest.raises(SystemExit) as stopped:
        main([arg.format(tmp=tmp) for arg in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert stopped.value.code == 2, err
    assert "Traceback" not in out + err
    assert len(lines) == 1 and lines[0].startswith("spikessm: error: "), err
    assert re.search(expected, lines[0]), lines[0]
    assert _contents(tmp) == before, "the command left something behind"


@pytest.mark.parametrize("case", MISTAKES)
def test_a_mistake_is_one_line_and_exit_code_2(case, tmp_path, capsys, monkeypatch) -> None:
    _check_one_line(*MISTAKES[case], tmp_path, capsys, monkeypatch)


@NO_GPU
@pytest.mark.parametrize("case", NO_GPU_MISTAKES)
def test_asking_for_a_gpu_on_a_cpu_machine_is_one_line(case, tmp_path, capsys, monkeypatch) -> None:
    _check_one_line(*NO_GPU_MISTAKES[case], tmp_path, capsys, monkeypatch)


def test_the_process_prints_one_line_and_exits_2(tmp_path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    done = subprocess.run(
        [sys.executable, "-m", "spikessm_snn.cli", "evaluate", "metrics.jsonl"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().startswith("spikessm: error: ") and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_a_bug_keeps_its_traceback(monkeypatch) -> None:
    def broken(_: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("spikessm_snn.cli._run", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["report"])


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


@pytest.mark.parametrize("name", ["report", "train", "evaluate", "listops-generate", "sdn-train"])
def test_help_documents_every_flag_with_default_and_choices(name) -> None:
    parser = _subcommands()[name]
    assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter)  # appends each default
    text = parser.format_help()
    undocumented = [a.dest for a in parser._actions if not a.help or a.help == argparse.SUPPRESS]
    assert not undocumented, f"flags without help text: {undocumented}"
    for action in parser._actions:
        for choice in action.choices or ():
            assert str(choice) in text, f"{action.dest}: choice {choice!r} not shown"
    assert "``" not in text and ":class:" not in text


def test_the_top_help_is_plain_text(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    text = capsys.readouterr().out
    assert stopped.value.code == 0
    assert DESCRIPTION.splitlines()[0] in text and "``" not in text
    for name in _subcommands():
        assert name in text
