"""Every plot runs headless, writes a non-empty file, and draws exactly its data."""

from __future__ import annotations

import matplotlib.collections
import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.plots import (
    compare_neurons,
    firing_rates,
    plot_comparison,
    plot_curves,
    plot_fi_curves,
    plot_layer_rates,
    plot_neuron_dynamics,
    plot_raster,
    save_figure,
)  # fmt: skip


def _scatter_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection))


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_raster_marks_every_spike_and_saves(suffix, randn, tmp_path) -> None:
    spikes = SRRNeuron()(randn(80, 20, dtype=torch.float32, mean=0.5)).spikes
    fig = plot_raster(spikes)
    assert _scatter_points(fig.axes[0]) == int(spikes.sum()) > 0
    path = save_figure(fig, tmp_path / f"raster{suffix}")
    assert path.stat().st_size > 1000


def test_dynamics_marks_each_spike_on_the_membrane(randn, tmp_path) -> None:
    x = randn(100, dtype=torch.float32, mean=0.6)
    neurons = {"srr": SRRNeuron(), "lif": ResetLIFNeuron(tau=0.5)}
    fig = plot_neuron_dynamics(neurons, x)
    for col, neuron in enumerate(neurons.values()):
        spikes = int(neuron(x[:, None]).spikes.sum())
        assert _scatter_points(fig.axes[len(neurons) + col]) == spikes > 0  # row 1 of the 4 x n grid
    assert save_figure(fig, tmp_path / "d.png").stat().st_size > 1000


def test_layer_rates_and_fi_curves_draw_their_values(tmp_path) -> None:
    rates = {"a": [0.1, 0.2, 0.15], "b": [0.3, 0.05, 0.1]}
    fig = plot_layer_rates(rates)
    drawn = [list(line.get_ydata()) for line in fig.axes[0].get_lines()]
    assert drawn == [pytest.approx(v) for v in rates.values()]
    currents = torch.linspace(0, 3, 31)
    srr = SRRNeuron()
    f = firing_rates(lambda x: srr(x).spikes, currents)
    assert f[0] == 0 and f[-1] > 0.3 and bool((f[1:] >= f[:-1] - 1e-6).all())  # grows with the current
    fig = plot_fi_curves({"srr": (currents, f)})
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == pytest.approx(f.tolist())
    assert save_figure(fig, tmp_path / "fi.svg").stat().st_size > 1000


def test_comparison_table_and_rasters_match_the_spikes(randn, tmp_path) -> None:
    x = randn(60, 2, 16, dtype=torch.float32, mean=0.5)
    srr, lif = SRRNeuron(), ResetLIFNeuron(tau=0.5)
    rows, spikes = compare_neurons({"srr": lambda x: srr(x).spikes, "lif": lambda x: lif(x).spikes}, x)
    assert [r["spikes"] for r in rows] == [int(srr(x).spikes.sum()), int(lif(x).spikes.sum())]
    assert all(r["sparsity"] == pytest.approx(1 - r["rate"]) for r in rows)
    fig = plot_comparison(spikes, neurons_shown=20)
    for ax, s in zip(fig.axes, spikes.values(), strict=True):
        assert _scatter_points(ax) == int(s.reshape(60, -1)[:, :20].sum())
    assert save_figure(fig, tmp_path / "c.png").stat().st_size > 1000
    fig = plot_comparison(spikes)  # by default every neuron: the counts drawn are the table's
    for ax, row in zip(fig.axes, rows, strict=True):
        assert _scatter_points(ax) == row["spikes"] and "32 neurons" in ax.get_title()


def test_bad_inputs_to_plots_raise(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        plot_raster(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="save as one of"):
        save_figure(plot_layer_rates({"a": [0.1]}), tmp_path / "x.jpg")


def test_curves_draw_each_run_and_the_chance_level(tmp_path) -> None:
    curves = {"a": ([1, 2, 3], [0.2, 0.4, 0.5]), "b": ([1, 2], [0.3, 0.1])}
    fig = plot_curves(curves, "epoch", "accuracy", "title", dashed=["b"], chance=0.1)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["a"].get_ydata()) == [0.2, 0.4, 0.5] and list(lines["b"].get_xdata()) == [1, 2]
    assert lines["b"].get_linestyle() == "--" and lines["a"].get_linestyle() == "-"
    assert list(lines["chance"].get_ydata()) == [0.1, 0.1]
    assert save_figure(fig, tmp_path / "curves.png").stat().st_size > 1000
