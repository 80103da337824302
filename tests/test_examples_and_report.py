"""Every example runs and passes its own checks, and the main job writes a report that agrees
with itself: the same constants everywhere, stated; figure counts equal to the table's; a
backend that did not run has no result and says why."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.report import FIGURES, backend_rows, default_input, run_report

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("e*.py"))
SAFETY_NET_S = 15 * 60  # only against a hang: the examples are small by design, not timed


def test_there_are_five_examples() -> None:
    assert len(EXAMPLES) == 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(example, tmp_path) -> None:
    done = subprocess.run([sys.executable, str(example), str(tmp_path)], capture_output=True, text=True,
                          timeout=SAFETY_NET_S, cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def _table_rows(text: str, header_start: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    keys = [k.strip() for k in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(keys, (v.strip() for v in line.strip("|").split("|")), strict=True)))
    return rows


def _check_backend_row(row: dict[str, str], numel: int) -> None:
    if row["not run because"]:
        assert row["spikes equal to 'torch'"] == "—" and row["time"] == "—", row
    elif row["backend"] != "torch":
        assert re.fullmatch(rf"\d+/{numel}", row["spikes equal to 'torch'"]) and row["time"].endswith(" ms"), row
        if row["kind"] == "exact":
            assert row["spikes equal to 'torch'"] == f"{numel}/{numel}", row


def test_backend_rows_say_why_a_backend_did_not_run() -> None:
    x = default_input(steps=40, neurons=8)
    rows = {r["backend"]: r for r in backend_rows(SRRNeuron(), x)}
    assert "soft" in rows["sdn"]["not run because"] or "hard-reset" in rows["sdn"]["not run because"]
    for row in rows.values():
        _check_backend_row({k: str(v) for k, v in row.items()}, x.numel())
    assert rows["pmbc"]["spikes equal to 'torch'"] == f"{x.numel()}/{x.numel()}"


def test_the_main_job_writes_a_consistent_report(tmp_path) -> None:
    summary = run_report(tmp_path / "report")
    text = summary.read_text()
    for figure in FIGURES:
        path = tmp_path / "report" / figure
        assert path.stat().st_size > 5000 and f"({figure})" in text
    x = default_input()
    steps, neurons = x.shape
    srr, lif = "tau=0.5, tau_r=0.5, U_th=1, v_th=1", "tau=0.125, threshold=1, hard reset to 0"
    settings = {r["neuron"]: r["settings"] for r in _table_rows(text, "| neuron | settings |")}
    assert settings["SRR (ours)"] == srr and settings["ResetLIF (ours)"] == lif
    assert "decay 0.125 a step" in settings["SpikingJelly LIF"] and "beta=0.125" in settings["snnTorch Leaky"]
    assert set(re.findall(r"ResetLIF \(([^)]*)\)", text)) == {lif, "ours"}  # one ResetLIF everywhere
    assert set(re.findall(r"SRR \(([^)]*)\)", text)) == {srr, "ours"}

    compared = {r["neuron"]: r for r in _table_rows(text, "| neuron | spikes |")}
    assert int(compared["ResetLIF (ours)"]["spikes"]) == int(ResetLIFNeuron()(x).spikes.sum()) > 0
    assert int(compared["SRR (ours)"]["spikes"]) == int(SRRNeuron()(x).spikes.sum()) > 0
    assert compared["SpikingJelly LIF"]["spikes equal to ResetLIF (ours)"] == f"{x.numel()}/{x.numel()}"
    assert f"all {neurons} neurons" in text

    backend_tables = text.split("## Backends")[1].split("## Per-layer")[0]
    for header in ("SRR (", "ResetLIF ("):
        section = backend_tables[backend_tables.index(header) :]
        for row in _table_rows(section, "| backend |"):
            _check_backend_row(row, steps * neurons)
