"""Importable analysis plots (matplotlib, headless). Each function returns its figure;
``save_figure(fig, path)`` writes PNG, SVG or PDF by the path's suffix."""

from .compare import compare_neurons, plot_comparison
from .curves import plot_curves
from .dynamics import plot_neuron_dynamics
from .fi_curve import firing_rates, plot_fi_curves
from .raster import plot_raster
from .rates import plot_layer_rates
from .style import save_figure

__all__ = [
    "compare_neurons",
    "firing_rates",
    "plot_comparison",
    "plot_curves",
    "plot_fi_curves",
    "plot_layer_rates",
    "plot_neuron_dynamics",
    "plot_raster",
    "save_figure",
]
