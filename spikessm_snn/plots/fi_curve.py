"""Firing rate against a constant input current (f-I curves)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from matplotlib.figure import Figure
from torch import Tensor

from .style import new_figure


def firing_rates(run: Callable[[Tensor], Tensor], currents: Tensor, steps: int = 200) -> Tensor:
    """Spikes per step of a neuron held at each constant current: ``run(x [T, C]) -> spikes [T, C]``."""
    x = currents.float().reshape(1, -1).expand(steps, -1).contiguous()
    with torch.no_grad():
        return run(x).float().mean(0)


def plot_fi_curves(curves: Mapping[str, tuple[Tensor, Tensor]], title: str = "f-I curves") -> Figure:
    """``curves``: neuron name -> (currents, firing rates)."""
    fig, axes = new_figure(1, 1, 6.0, 3.8)
    ax = axes[0, 0]
    styles = ("-", "--", ":", "-.")
    for i, (name, (currents, rates)) in enumerate(curves.items()):  # coinciding curves stay visible
        ax.plot(currents, rates, lw=2.2 - 0.3 * (i % 4), ls=styles[i % 4], label=name)
    ax.set_xlabel("constant input current x (a.u.)")
    ax.set_ylabel("firing rate (spikes / step)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
