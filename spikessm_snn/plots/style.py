"""Headless matplotlib and figure saving shared by the plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".pdf")


def new_figure(rows: int, cols: int, width: float, height: float, **kwargs: object) -> tuple[Figure, object]:
    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)


def save_figure(fig: Figure, path: str | Path, dpi: int = 130) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by suffix) and close it."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"save as one of {FORMATS}, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
