"""SpikingJelly node classes for our neurons, for spikingjelly 2.0.0 and 0.0.0.0.14.

The arguments take SpikingJelly's names *and meanings*, so a node drops into SpikingJelly code
(``spiking_resnet18(spiking_neuron=SRRNode, surrogate_function=surrogate.ATan(), detach_reset=True)``):

- ``tau`` is the membrane **time constant**, as in ``neuron.LIFNode``: the per-step decay is
  ``d = 1 - 1/tau`` (``tau > 1``). The papers write the per-step decay itself: pass it as
  ``decay=`` instead (``decay=0.5`` is ``tau=2``). Unset, the papers' value is used.
- ``v_threshold``; ``v_reset``: ``None`` for a soft reset (subtract the threshold), a number for a
  hard reset to it. As in ``LIFNode`` the membrane starts at ``v_reset`` and leaks toward it.
- ``decay_input``: SpikingJelly's charge ``H = V + (X - (V - V_reset)) / tau`` (``True``) or
  ``H = V - (V - V_reset) / tau + X`` (``False``, the papers' form and our default). Both are our
  charge ``H = d V + X'`` on the driven input ``X' = (1 - d)(X + V_reset)`` or
  ``X + (1 - d) V_reset``, started from ``V = V_reset``; so every backend runs them unchanged.
- ``surrogate_function``: a SpikingJelly surrogate object, one of ours by name, or our
  ``Surrogate``. SpikingJelly's ``Sigmoid``, ``ATan`` and ``Rect`` (spiking mode) are the same
  functions as ours of that name and are taken as ours, so every backend accepts them; any
  other callable runs on the ``'torch'`` backend. Default: the papers' triangle.
- ``detach_reset``; ``step_mode`` (``'s'``: ``x [N, ...]``; ``'m'``: ``x_seq [T, N, ...]`` through
  the chosen backend); ``store_v_seq`` (multi-step mode: ``v_seq`` and the refractory trace's
  ``r_seq``, ``[T, N, ...]``); ``backend`` (any of ours: 0.0.0.0.14's ``functional.set_backend``
  and our ``set_backend`` both set it).

A node *is* our neuron (``SRRNeuron`` / ``ResetLIFNeuron``) and a SpikingJelly ``MemoryModule``:
its constants are the papers' (``node.tau()`` is the per-step decay), its states ``v`` (membrane
after reset), ``r`` (refractory trace), ``v_seq``, ``r_seq`` are SpikingJelly memories, so
``functional.reset_net`` / ``detach_net`` / ``set_step_mode`` and the monitors work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

try:
    from spikingjelly.activation_based import base
    from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError as error:  # pragma: no cover - exercised only without spikingjelly
    raise ImportError(
        "spikessm_snn.adapters.spikingjelly needs spikingjelly (2.0.0 or 0.0.0.0.14); install it with "
        "'pip install --no-deps spikingjelly==2.0.0 loguru tqdm tensorboard' (see README)"
    ) from error

from ..neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron, owned_state
from ..neurons.dynamics import NeuronState
from ..neurons.surrogate import SpikeFunction, Surrogate

_SAME_SURROGATE = {"Sigmoid": "sigmoid", "ATan": "atan", "Rect": "rect"}  # SpikingJelly's class -> ours


def spike_function(surrogate_function: Any) -> Any:
    """Ours for SpikingJelly's ``Sigmoid`` / ``ATan`` / ``Rect`` in spiking mode (same alpha, same
    forward and derivative); anything else as given."""
    class_name = type(surrogate_function).__name__
    name = _SAME_SURROGATE.get(class_name)
    if name is None or type(surrogate_function) is not getattr(sj_surrogate, class_name, None):
        return surrogate_function
    return Surrogate(name, float(surrogate_function.alpha)) if surrogate_function.spiking else surrogate_function


def per_step_decay(tau: float | None, decay: float | None, default: float, names: tuple[str, str]) -> float:
    """The per-step decay from SpikingJelly's time constant (``1 - 1/tau``), or ``decay`` as given."""
    if tau is not None and decay is not None:
        raise TypeError(f"give {names[0]} (SpikingJelly's time constant) or {names[1]} (per-step decay), not both")
    if decay is not None:
        return decay
    if tau is None:
        return default
    if not tau > 1.0:
        raise ValueError(
            f"{names[0]} is SpikingJelly's time constant and must be > 1 (per-step decay 1 - 1/{names[0]} in "
            f"(0, 1]), got {tau}; pass {names[1]}= for the per-step decay"
        )
    return 1.0 - 1.0 / tau


class SpikingJellyNode:
    """SpikingJelly's side of a node; listed first in the bases, before one of our neuron classes
    and ``base.MemoryModule`` (see ``SRRNode``)."""

    decay_input: bool
    store_v_seq: bool

    def _become_node(self, decay_input: bool, step_mode: str, store_v_seq: bool) -> None:
        self.decay_input, self.store_v_seq = bool(decay_input), bool(store_v_seq)
        self.register_memory("v", self.v_reset)  # SpikingJelly starts at v_reset (0 for a soft reset)
        self.register_memory("r", 0.0)
        self.register_memory("v_seq", None)
        self.register_memory("r_seq", None)
        self.step_mode = step_mode

    forward = base.MemoryModule.forward  # dispatch on step_mode, not our neuron's sequence call

    def _drive(self, x: Tensor) -> Tensor:
        """The input ``X'`` on which our charge ``d V + X'`` is SpikingJelly's (module docstring)."""
        if not self.decay_input and self.v_reset == 0.0:
            return x
        leak = 1.0 - self.tau().to(x.dtype)
        return leak * (x + self.v_reset) if self.decay_input else x + leak * self.v_reset

    def _state(self, x: Tensor) -> NeuronState:
        if isinstance(self.v, Tensor):
            return NeuronState(self.v, self.r)
        return NeuronState(torch.full_like(x, self.v), torch.zeros_like(x))

    def single_step_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        spikes, (self.v, self.r) = self.step(self._drive(x), self._state(x))
        return spikes

    def multi_step_forward(self, x_seq: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        result = SpikingNeuron.forward(self, self._drive(x_seq), self._state(x_seq[0]), record=self.store_v_seq)
        self.v, self.r = owned_state(result.state)
        if self.store_v_seq:
            self.v_seq, self.r_seq = result.v_seq, result.r_seq
        return result.spikes

    def detach(self) -> None:
        """Cut every state from the graph (``functional.detach_net``), out of place: a recorded
        ``v_seq`` may be a view of a backend's output, which cannot be detached in place."""
        for name, value in self._memories.items():
            if isinstance(value, Tensor):
                self._memories[name] = value.detach()

    def extra_repr(self) -> str:
        return (
            f"{SpikingNeuron.extra_repr(self)}, decay_input={self.decay_input}, step_mode={self.step_mode}, "
            f"store_v_seq={self.store_v_seq}"
        )


class SRRNode(SpikingJellyNode, SRRNeuron, base.MemoryModule):
    """SPikE-SSM's SRR neuron as a SpikingJelly node (soft reset, so ``v_reset`` must be ``None``).

    Positional arguments in ``neuron.LIFNode``'s order. ``tau_r`` is the refractory trace's time
    constant (``decay_r`` its per-step decay); ``v_th`` the paper's refractory magnitude (the rise
    of the threshold per spike); ``v_threshold`` the paper's ``U_th``. Defaults: the paper's
    ``decay = decay_r = 0.5`` (``tau = tau_r = 2``), ``v_threshold = v_th = 1``.
    """

    def __init__(
        self,
        tau: float | None = None,
        decay_input: bool = False,
        v_threshold: float = 1.0,
        v_reset: float | None = None,
        surrogate_function: str | SpikeFunction | None = "triangle",
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "torch",
        store_v_seq: bool = False,
        *,
        tau_r: float | None = None,
        v_th: float = 1.0,
        decay: float | None = None,
        decay_r: float | None = None,
        shape: Sequence[int] = (),
        learn_tau: bool = False,
        learn_tau_r: bool = False,
        learn_u_th: bool = False,
        learn_v_th: bool = False,
        check_finite: bool = True,
    ) -> None:
        if v_reset is not None:
            raise ValueError(f"SRR resets softly (v = h - v_threshold * s): v_reset must be None, got {v_reset}")
        super().__init__(
            per_step_decay(tau, decay, 0.5, ("tau", "decay")),
            per_step_decay(tau_r, decay_r, 0.5, ("tau_r", "decay_r")),
            v_threshold, v_th, shape, learn_tau, learn_tau_r, learn_u_th, learn_v_th,
            surrogate=spike_function(surrogate_function), backend=backend, detach_reset=detach_reset,
            check_finite=check_finite,
        )  # fmt: skip
        self._become_node(decay_input, step_mode, store_v_seq)


class ResetLIFNode(SpikingJellyNode, ResetLIFNeuron, base.MemoryModule):
    """SpikingSSMs' reset-LIF as a SpikingJelly node, in ``neuron.LIFNode``'s argument order.

    With the same arguments it equals ``LIFNode`` spike for spike (hard reset to any ``v_reset``,
    soft reset with ``v_reset=None``, either ``decay_input``). Defaults are the paper's: decay
    0.125 per step (``tau = 8/7``), ``decay_input=False``, hard reset to 0, threshold 1, triangle.
    """

    def __init__(
        self,
        tau: float | None = None,
        decay_input: bool = False,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate_function: str | SpikeFunction | None = "triangle",
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "torch",
        store_v_seq: bool = False,
        *,
        decay: float | None = None,
        shape: Sequence[int] = (),
        learn_tau: bool = False,
        learn_threshold: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__(
            per_step_decay(tau, decay, 0.125, ("tau", "decay")),
            v_threshold, "soft" if v_reset is None else "hard", 0.0 if v_reset is None else v_reset, shape,
            learn_tau, learn_threshold, surrogate=spike_function(surrogate_function), backend=backend,
            detach_reset=detach_reset, check_finite=check_finite,
        )  # fmt: skip
        self._become_node(decay_input, step_mode, store_v_seq)
