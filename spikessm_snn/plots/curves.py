"""Curves of a metric against epoch (or any x), one line a run: learning curves and ablations."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .style import new_figure


def plot_curves(curves: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str,
                dashed: Sequence[str] = (), chance: float | None = None) -> Figure:  # fmt: skip
    """One line with markers per ``label -> (x, y)``; labels in ``dashed`` drawn dashed; an optional
    dotted line at the ``chance`` level."""
    fig, axes = new_figure(1, 1, 6.4, 4.0)
    ax = axes[0, 0]
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", linestyle="--" if label in dashed else "-", label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", linewidth=0.8, linestyle=":", label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
