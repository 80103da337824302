"""The main job: a report on the embedded default input, ``summary.md`` and its figures.

SRR and reset-LIF dynamics, a spike raster, our neurons beside SpikingJelly's LIF/PLIF/PSN and
snnTorch's Leaky (figure and table), f-I curves, every backend checked against the exact
``'torch'`` loop, and the per-layer spike rates of small trained models. Every section up to the
trained models runs the same two neurons, ``SRRNeuron()`` and ``ResetLIFNeuron()`` at their
defaults, and states their constants; the frameworks' LIF neurons take the ResetLIF's
(``zoo.comparison_neurons``).
Nothing is downloaded.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from .backends.registry import BACKENDS, available_backends
from .backends.result import BackendUnavailableError, MultiStepResult
from .checkpoints import read_checkpoint
from .neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron
from .plots import (
    compare_neurons,
    firing_rates,
    plot_comparison,
    plot_fi_curves,
    plot_layer_rates,
    plot_neuron_dynamics,
    plot_raster,
    save_figure,
)  # fmt: skip
from .training import TrainConfig, evaluate
from .zoo import comparison_neurons, describe_neuron

FIGURES = ("neuron_dynamics.png", "raster.png", "neuron_comparison.png", "fi_curves.png", "layer_spike_rates.png")
TIMING_CALLS = 3  # each time in the report is the median of this many calls
PRETRAINED = Path(__file__).parent / "pretrained"
SHIPPED_DIGITS = {"SPikE-SSM": PRETRAINED / "digits_spike_ssm.pt", "SpikingSSM": PRETRAINED / "digits_spikingssm.pt"}


def default_input(steps: int = 200, neurons: int = 64, seed: int = 0) -> torch.Tensor:
    """Embedded default current ``[T, N]``: 0.35 + 0.5 sin(2 pi t / 80) + N(0, 0.6^2) noise, seeded."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32)[:, None]
    return 0.35 + 0.5 * torch.sin(2 * math.pi * t / 80) + 0.6 * torch.randn(steps, neurons, generator=g)


def markdown_table(rows: list[dict[str, object]]) -> list[str]:
    """Rows of equal keys as a Markdown table (the keys are the header), then a blank line."""
    keys = list(rows[0])
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            *("| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows), ""]  # fmt: skip


def _median_ms(call: Callable[[], MultiStepResult]) -> tuple[MultiStepResult, float]:
    times = []
    for _ in range(TIMING_CALLS):
        start = time.perf_counter()
        with torch.no_grad():
            result = call()
        times.append(1e3 * (time.perf_counter() - start))
    return result, statistics.median(times)


def backend_rows(neuron: SpikingNeuron, x: torch.Tensor) -> list[dict[str, object]]:
    """Every backend on ``neuron`` and ``x [T, ...]`` against the ``'torch'`` loop: spikes equal and
    time where it ran, else why it did not (a backend missing here or refusing this neuron)."""
    reference, reference_ms = _median_ms(lambda: neuron(x))
    rows = []
    for name, missing in available_backends().items():
        row: dict[str, object] = {"backend": name, "kind": "exact" if BACKENDS[name].exact else "approximate",
                                  "spikes equal to 'torch'": "—", "time": "—", "not run because": ""}  # fmt: skip
        if name == "torch":
            rows.append({**row, "spikes equal to 'torch'": "(the reference)", "time": f"{reference_ms:.1f} ms"})
            continue
        if missing is not None:
            rows.append({**row, "not run because": f"not installed here: {missing}"})
            continue
        neuron.backend = name
        try:
            result, ms = _median_ms(lambda: neuron(x))
        except BackendUnavailableError as error:
            rows.append({**row, "not run because": str(error)})
            continue
        finally:
            neuron.backend = "torch"
        equal = int((result.spikes == reference.spikes).sum())
        rows.append({**row, "spikes equal to 'torch'": f"{equal}/{reference.spikes.numel()}", "time": f"{ms:.1f} ms"})
    return rows


def trained_models_section(out_dir: Path) -> list[str]:
    """Accuracy and per-layer spike rates of the shipped small SPikE-SSM and SpikingSSM, evaluated here
    on the embedded sequential digits' test split: writes ``layer_spike_rates.png`` into ``out_dir``
    and returns the section's Markdown lines."""
    rates, rows = {}, []
    for name, path in SHIPPED_DIGITS.items():
        result = evaluate(path, split="test")
        config, metrics = TrainConfig.from_dict(read_checkpoint(path)["config"]), read_checkpoint(path)["metrics"]
        rates[name] = list(result["spike_rates"].values())
        rows.append({"model": name, "epochs": config.epochs, "test accuracy": f"{result['accuracy']:.3f}",
                     "recorded when trained": f"{metrics['test_accuracy']:.3f}",
                     "mean spike rate": f"{result['mean_spike_rate']:.3f}"})  # fmt: skip
    save_figure(plot_layer_rates(rates, title="spike rate per layer on the sequential digits' test set"),
                out_dir / "layer_spike_rates.png")  # fmt: skip
    return ["## Per-layer spike rates of small trained models", "",
            f"The shipped weights `spikessm_snn/pretrained/digits_*.pt`: {config.layers} blocks, d_model "
            f"{config.d_model}, d_state {config.d_state}, {config.norm} norm, the blocks' own neuron settings, "
            f"trained {config.epochs} epochs on the embedded sequential digits (64 pixels a sequence; chance is "
            "0.100) on a CPU, evaluated here on the test split:", "",
            *markdown_table(rows), "![layer spike rates](layer_spike_rates.png)", ""]  # fmt: skip


def run_report(out_dir: Path) -> Path:
    """Write ``summary.md`` and ``FIGURES`` into ``out_dir`` (created if missing); return the summary's path."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    x = default_input()
    steps, neurons = x.shape
    srr, lif = SRRNeuron(), ResetLIFNeuron()
    srr_name, lif_name = f"SRR ({describe_neuron(srr)})", f"ResetLIF ({describe_neuron(lif)})"
    zoo = comparison_neurons(steps, srr, lif)
    lines = ["# spikessm report", "", "## Settings", "",
             f"Input (embedded, seeded): T = {steps} steps, {neurons} neurons, 0.35 + 0.5 sin(2 pi t / 80) plus "
             "N(0, 0.6^2) noise. Every section up to the trained models runs these neurons:", "",
             *markdown_table([{"neuron": name, "settings": neuron.settings} for name, neuron in zoo.items()]),
             "SRR is SPikE-SSM's neuron, ResetLIF SpikingSSMs' (both at their defaults); `tau` is the decay a step. "
             "The frameworks' LIF neurons take the ResetLIF's constants.", ""]  # fmt: skip
    stages = tqdm(total=6, desc="spikessm report", unit="stage")

    fig = plot_neuron_dynamics({srr_name: srr, lif_name: lif}, x[:, 0])
    save_figure(fig, out_dir / "neuron_dynamics.png")
    lines += ["## Neuron dynamics", "", "Neuron 0 of the input.", "", "![neuron dynamics](neuron_dynamics.png)", ""]
    stages.update()

    save_figure(plot_raster(srr(x).spikes, title=f"{srr_name}, {neurons} neurons"), out_dir / "raster.png")
    lines += ["## Spike raster", "", "![raster](raster.png)", ""]
    stages.update()

    rows, spikes = compare_neurons({name: neuron.run for name, neuron in zoo.items()}, x[:, None, :],
                                   repeats=TIMING_CALLS)  # fmt: skip
    reference = spikes["ResetLIF (ours)"]
    for row in rows:
        equal = int((spikes[row["neuron"]] == reference).sum())
        row["spikes equal to ResetLIF (ours)"] = f"{equal}/{reference.numel()}"
    save_figure(plot_comparison(spikes), out_dir / "neuron_comparison.png")
    lines += ["## Our neurons beside SpikingJelly's and snnTorch's", "",
              f"The input above, all {neurons} neurons (settings: see Settings); time is CPU wall clock, the median "
              f"of {TIMING_CALLS} calls.", "",
              *markdown_table(rows), "![comparison](neuron_comparison.png)", ""]  # fmt: skip
    stages.update()

    currents = torch.linspace(-0.5, 3.0, 71)
    curves = {name: (currents, firing_rates(neuron.run, currents, steps)) for name, neuron in zoo.items()
              if "PSN" not in name}  # fmt: skip
    save_figure(plot_fi_curves(curves, title=f"f-I curves ({steps} steps at each constant current)"),
                out_dir / "fi_curves.png")  # fmt: skip
    lines += ["## f-I curves", "", "The neurons of Settings, PSN left out (with untrained weights its response to a "
              "constant current says nothing about the model). At a current exactly at the threshold snnTorch's "
              "Leaky fires half as often: it spikes when the membrane exceeds the threshold, ours and "
              "SpikingJelly's when it reaches it.", "", "![f-I curves](fi_curves.png)", ""]  # fmt: skip
    stages.update()

    lines += ["## Backends", "", f"Each backend against the exact loop on the input above; time is the median of "
              f"{TIMING_CALLS} calls.", "", f"{srr_name}:", "", *markdown_table(backend_rows(srr, x)),
              f"{lif_name}:", "", *markdown_table(backend_rows(lif, x))]  # fmt: skip
    stages.update()

    lines += trained_models_section(out_dir)
    stages.update()
    stages.close()
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(lines))
    return summary
