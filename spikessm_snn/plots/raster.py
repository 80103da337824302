"""Spike raster: one dot per spike, neurons on the vertical axis."""

from __future__ import annotations

from matplotlib.figure import Figure
from torch import Tensor

from .style import new_figure


def plot_raster(spikes: Tensor, title: str = "spike raster", ax: object | None = None) -> Figure:
    """``spikes [T, N]`` (0/1) as dots at (t, neuron)."""
    if spikes.dim() != 2:
        raise ValueError(f"spikes must be [T, N], got shape {tuple(spikes.shape)}")
    if ax is None:
        fig, axes = new_figure(1, 1, 8.0, 3.2)
        ax = axes[0, 0]
    fig = ax.figure
    t, n = spikes.detach().cpu().nonzero(as_tuple=True)
    ax.scatter(t + 1, n, s=2, marker="|", color="black", linewidths=0.8)
    rate = float(spikes.float().mean())
    ax.set_title(f"{title}  ({len(t)} spikes, rate {rate:.3f})", fontsize=10)
    ax.set_xlabel("time step t")
    ax.set_ylabel("neuron")
    ax.set_xlim(0, spikes.shape[0] + 1)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    return fig
