"""Every example runs (each well under a minute on a 2-core CPU) and the main job writes its report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikessm_snn.cli import run_report

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("e*.py"))


def test_there_are_five_examples() -> None:
    assert len(EXAMPLES) == 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(example, tmp_path) -> None:
    done = subprocess.run([sys.executable, str(example), str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_the_main_job_writes_its_report(tmp_path) -> None:
    summary = run_report(tmp_path / "report", train_seconds=1.0)
    text = summary.read_text()
    for figure in ("neuron_dynamics", "raster", "neuron_comparison", "fi_curves", "layer_spike_rates"):
        path = tmp_path / "report" / f"{figure}.png"
        assert path.stat().st_size > 5000 and f"({figure}.png)" in text
    assert "SpikingJelly LIF" in text and "| torch | exact | 12800/12800 |" in text
