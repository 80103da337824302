"""spikessm_snn: spiking state space model neurons (SRR, reset-LIF) with exact and fast backends."""

from .backends import BackendUnavailableError, available_backends, set_backend
from .neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron
from .neurons import NeuronState, Surrogate, surrogate

__version__ = "0.1.0"
__all__ = [
    "BackendUnavailableError",
    "NeuronState",
    "ResetLIFNeuron",
    "SRRNeuron",
    "SpikingNeuron",
    "Surrogate",
    "available_backends",
    "set_backend",
    "surrogate",
]
