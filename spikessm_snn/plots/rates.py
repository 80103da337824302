"""Per-layer spike rates of one or several models (as SPikE-SSM's Figure 4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from .style import new_figure


def plot_layer_rates(rates: Mapping[str, Sequence[float]], title: str = "spike rate per layer") -> Figure:
    """``rates``: model name -> spike rate of each layer (spikes per neuron per step)."""
    fig, axes = new_figure(1, 1, 6.4, 3.6)
    ax = axes[0, 0]
    for name, values in rates.items():
        layers = range(1, len(values) + 1)
        mean = sum(values) / len(values)
        ax.plot(layers, values, marker="o", label=f"{name} (mean {mean:.3f})")
    ax.set_xlabel("layer")
    ax.set_ylabel("spike rate (spikes / neuron / step)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.set_xticks(range(1, max(len(v) for v in rates.values()) + 1))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
