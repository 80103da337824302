"""Importable analysis plots (matplotlib); each function returns its figure."""

from .dynamics import plot_neuron_dynamics

__all__ = ["plot_neuron_dynamics"]
