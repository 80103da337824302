"""snnTorch-style neuron classes for our neurons (snnTorch 1.0.0 conventions).

Like ``snn.Leaky``: ``beta`` is the membrane decay, ``threshold``, ``spike_grad`` (a name,
our ``Surrogate`` or any snnTorch surrogate callable; default: the papers' triangle),
``learn_beta`` / ``learn_threshold``, ``reset_mechanism``, ``init_hidden`` and ``output``.
One step at a time::

    spk, mem = lif(x_t)              # x_t [B, ...]; state kept inside, or passed as mem=
    spk = lif(x_t)                   # with init_hidden=True (inside nn.Sequential)

A whole sequence at once, through the chosen backend::

    spk_seq, mem_seq = lif.forward_sequence(x_seq)   # x_seq [T, B, ...], mem_seq after reset

State carries across calls until ``reset_mem()`` (or ``reset(net)`` for a whole network).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

try:
    import snntorch.utils as snn_utils
except ImportError as error:  # pragma: no cover - exercised only without snntorch
    raise ImportError("spikessm_snn.adapters.snntorch needs snntorch; 'pip install snntorch==1.0.0'") from error

from ..neuron_modules import BackendOfNeuron, ResetLIFNeuron, SpikingNeuron, SRRNeuron
from ..neurons.dynamics import NeuronState
from ..neurons.surrogate import SpikeFunction


class _SnnTorchNeuron(BackendOfNeuron, nn.Module):
    """Shared state handling; subclasses name the states they return (``mem`` [, ``ref``])."""

    state_names: tuple[str, ...] = ("mem",)

    def __init__(self, neuron: SpikingNeuron, init_hidden: bool, output: bool) -> None:
        super().__init__()
        self.neuron, self.init_hidden, self.output = neuron, init_hidden, output
        self._state: NeuronState | None = None

    def _take_state(self, given: tuple[Tensor | None, ...]) -> NeuronState | None:
        if all(g is None for g in given):
            return self._state
        if self.init_hidden:
            raise TypeError(f"{'/'.join(self.state_names)} must not be passed while init_hidden=True")
        if any(g is None for g in given):
            raise TypeError(f"pass all of {', '.join(self.state_names)} or none")
        if len(given) == 1:  # ResetLIF: the refractory trace is always zero
            return NeuronState(given[0], given[0].new_zeros(given[0].shape))
        return NeuronState(*given)

    def _outputs(self, spikes: Tensor, v: Tensor, r: Tensor) -> Tensor | tuple[Tensor, ...]:
        states = (v, r)[: len(self.state_names)]
        if self.init_hidden and not self.output:
            return spikes
        return (spikes, *states)

    def _step(self, input_: Tensor, *given: Tensor | None) -> Tensor | tuple[Tensor, ...]:
        spikes, self._state = self.neuron.step(input_, self._take_state(given))
        return self._outputs(spikes, *self._state)

    def forward_sequence(self, x_seq: Tensor, *given: Tensor | None) -> Tensor | tuple[Tensor, ...]:
        """``x_seq [T, B, ...]`` -> ``spk_seq`` and the state sequences ``[T, B, ...]``."""
        record = not (self.init_hidden and not self.output)
        result = self.neuron(x_seq, self._take_state(given or (None,) * len(self.state_names)), record=record)
        self._state = result.state
        if not record:
            return result.spikes
        return self._outputs(result.spikes, result.v_seq, result.r_seq)

    def reset_mem(self) -> None:
        """Forget the carried state (the next call starts from zeros)."""
        self._state = None

    def detach_hidden(self) -> None:
        """Cut the carried state from the graph (truncated BPTT)."""
        if self._state is not None:
            self._state = NeuronState(*(s.detach() for s in self._state))


def _reset_mechanism(value: str, allowed: dict[str, str]) -> str:
    if value not in allowed:
        raise ValueError(f"reset_mechanism must be one of {sorted(allowed)}, got {value!r}")
    return allowed[value]


class SRR(_SnnTorchNeuron):
    """SPikE-SSM's SRR neuron: ``forward(input_, mem=None, ref=None) -> spk, mem, ref``.

    ``beta`` membrane decay, ``beta_r`` refractory decay, ``threshold`` (U_th, also the soft
    reset amount), ``refractory`` (v_th, the threshold raise per spike). Soft reset only.
    """

    state_names = ("mem", "ref")

    def __init__(
        self,
        beta: float = 0.5,
        beta_r: float = 0.5,
        threshold: float = 1.0,
        refractory: float = 1.0,
        spike_grad: str | SpikeFunction | None = None,
        init_hidden: bool = False,
        learn_beta: bool = False,
        learn_beta_r: bool = False,
        learn_threshold: bool = False,
        learn_refractory: bool = False,
        reset_mechanism: str = "subtract",
        output: bool = False,
        backend: str = "torch",
        shape: Sequence[int] = (),
    ) -> None:
        _reset_mechanism(reset_mechanism, {"subtract": "soft"})
        neuron = SRRNeuron(
            beta, beta_r, threshold, refractory, shape, learn_beta, learn_beta_r, learn_threshold,
            learn_refractory, surrogate=spike_grad, backend=backend,
        )  # fmt: skip
        super().__init__(neuron, init_hidden, output)

    def forward(self, input_: Tensor, mem: Tensor | None = None, ref: Tensor | None = None) -> Any:
        return self._step(input_, mem, ref)


class ResetLIF(_SnnTorchNeuron):
    """SpikingSSMs' reset-LIF: ``forward(input_, mem=None) -> spk, mem`` as ``snn.Leaky``.

    ``reset_mechanism='zero'`` (the paper's hard reset, default) or ``'subtract'``. Unlike
    ``snn.Leaky`` the reset acts in the step that fires (SpikingJelly's order).
    """

    def __init__(
        self,
        beta: float = 0.125,
        threshold: float = 1.0,
        spike_grad: str | SpikeFunction | None = None,
        init_hidden: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "zero",
        output: bool = False,
        backend: str = "torch",
        shape: Sequence[int] = (),
    ) -> None:
        reset = _reset_mechanism(reset_mechanism, {"zero": "hard", "subtract": "soft"})
        neuron = ResetLIFNeuron(
            beta, threshold, reset, 0.0, shape, learn_beta, learn_threshold, surrogate=spike_grad, backend=backend
        )
        super().__init__(neuron, init_hidden, output)

    def forward(self, input_: Tensor, mem: Tensor | None = None) -> Any:
        return self._step(input_, mem)


def reset(net: nn.Module) -> None:
    """Reset the state of every neuron in ``net``: ours, and snnTorch's own (``snntorch.utils.reset``)."""
    for module in net.modules():
        if isinstance(module, _SnnTorchNeuron):
            module.reset_mem()
    snn_utils.reset(net)
