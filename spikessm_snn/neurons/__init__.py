"""Neuron maths: pure functions over explicit state, typed parameters, surrogate spikes."""

from .dynamics import NeuronParameters, NeuronState, neuron_step, zero_state
from .surrogate import SURROGATE_NAMES, Surrogate, surrogate

__all__ = ["SURROGATE_NAMES", "NeuronParameters", "NeuronState", "Surrogate", "neuron_step", "surrogate", "zero_state"]
