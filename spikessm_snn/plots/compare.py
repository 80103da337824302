"""Several neurons on the same input: a table (spike counts, sparsity, time) and rasters."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import torch
from matplotlib.figure import Figure
from torch import Tensor

from .raster import plot_raster
from .style import new_figure


def compare_neurons(neurons: Mapping[str, Callable[[Tensor], Tensor]], x: Tensor,
                    repeats: int = 3) -> tuple[list[dict[str, object]], dict[str, Tensor]]:  # fmt: skip
    """Run each ``neuron(x [T, B, N]) -> spikes`` on ``x``: rows of spike count, rate, sparsity,
    silent neurons and median wall time (ms, CPU clock), and each neuron's spikes."""
    rows, outputs = [], {}
    for name, run in neurons.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.no_grad():
                spikes = run(x)
            times.append(1e3 * (time.perf_counter() - start))
        spikes = spikes.detach().float()
        outputs[name] = spikes
        rate = float(spikes.mean())
        rows.append({
            "neuron": name, "spikes": int(spikes.sum()), "rate": round(rate, 4), "sparsity": round(1 - rate, 4),
            "silent neurons": round(float((spikes.sum(0) == 0).float().mean()), 4),
            "time_ms": round(sorted(times)[len(times) // 2], 2),
        })  # fmt: skip
    return rows, outputs


def plot_comparison(spikes: Mapping[str, Tensor], neurons_shown: int | None = None) -> Figure:
    """One raster per neuron model: ``spikes [T, ...]`` flattened to ``[T, N]``, the first
    ``neurons_shown`` neurons (all by default, so that the counts drawn are the table's)."""
    fig, axes = new_figure(len(spikes), 1, 8.0, 1.7 * len(spikes) + 0.6, sharex=True)
    for ax, (name, s) in zip(axes[:, 0], spikes.items(), strict=True):
        shown = s.reshape(s.shape[0], -1)[:, :neurons_shown]
        plot_raster(shown, title=f"{name}, {shown.shape[1]} neurons", ax=ax)
        ax.set_xlabel("")
    axes[-1, 0].set_xlabel("time step t")
    fig.tight_layout()
    return fig
