"""SpikingJelly node classes for our neurons, for spikingjelly 2.0.0 and 0.0.0.0.14.

``SRRNode`` / ``ResetLIFNode`` are ``base.MemoryModule``s: ``step_mode='s'`` takes
``x [B, ...]``, ``'m'`` takes ``x_seq [T, B, ...]`` and runs the chosen backend; states ``v``
(membrane after reset) and ``r`` (refractory trace) are registered memories, so
``functional.reset_net``, ``functional.set_step_mode``, ``detach_net`` and the monitors work.
``backend`` / ``supported_backends`` follow 0.0.0.0.14; use ``spikessm_snn.set_backend(net,
name)`` on either version. ``store_v_seq=True`` keeps ``v_seq`` (and ``r_seq``) ``[T, B, ...]``
in multi-step mode.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

try:
    from spikingjelly.activation_based import base
except ImportError as error:  # pragma: no cover - exercised only without spikingjelly
    raise ImportError(
        "spikessm_snn.adapters.spikingjelly needs spikingjelly (2.0.0 or 0.0.0.0.14); install it with "
        "'pip install --no-deps spikingjelly==2.0.0 loguru tqdm tensorboard' (see README)"
    ) from error

from ..neuron_modules import BackendOfNeuron, ResetLIFNeuron, SpikingNeuron, SRRNeuron
from ..neurons.dynamics import NeuronState


class SpikingNeuronNode(BackendOfNeuron, base.MemoryModule):
    """A SpikingJelly node around one of our framework-free neurons (``self.neuron``)."""

    def __init__(self, neuron: SpikingNeuron, step_mode: str = "s", store_v_seq: bool = False) -> None:
        super().__init__()
        self.neuron = neuron
        self.register_memory("v", 0.0)
        self.register_memory("r", 0.0)
        self.step_mode = step_mode
        self.store_v_seq = store_v_seq

    def _carried_state(self) -> NeuronState | None:
        return None if isinstance(self.v, float) else NeuronState(self.v, self.r)

    def single_step_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        spikes, (self.v, self.r) = self.neuron.step(x, self._carried_state())
        return spikes

    def multi_step_forward(self, x_seq: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        result = self.neuron(x_seq, self._carried_state(), record=self.store_v_seq)
        self.v, self.r = result.state
        if self.store_v_seq:
            self.v_seq, self.r_seq = result.v_seq, result.r_seq
        return result.spikes

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode}, backend={self.backend!r}, store_v_seq={self.store_v_seq}"


class SRRNode(SpikingNeuronNode):
    """SPikE-SSM's SRR neuron as a SpikingJelly node; arguments as ``SRRNeuron``."""

    def __init__(self, *args: Any, step_mode: str = "s", store_v_seq: bool = False, **kwargs: Any) -> None:
        super().__init__(SRRNeuron(*args, **kwargs), step_mode, store_v_seq)


class ResetLIFNode(SpikingNeuronNode):
    """SpikingSSMs' reset-LIF as a SpikingJelly node; arguments as ``ResetLIFNeuron``."""

    def __init__(self, *args: Any, step_mode: str = "s", store_v_seq: bool = False, **kwargs: Any) -> None:
        super().__init__(ResetLIFNeuron(*args, **kwargs), step_mode, store_v_seq)
