"""snnTorch neuron classes for our neurons (snnTorch 1.0.0).

``SRR`` and ``ResetLIF`` are subclasses of ``snn.Leaky``, so snnTorch's own tools treat them as
its neurons: ``snntorch.utils.reset(net)``, ``snntorch.backprop``, ``Leaky.reset_hidden()`` /
``detach_hidden()``. They take ``snn.Leaky``'s arguments with its meanings and keep its
attributes: ``beta`` (membrane decay per step, clamped to [0, 1] where used), ``threshold`` (a
float or a per-neuron tensor each), ``learn_beta`` / ``learn_threshold``, ``spike_grad`` (a
snnTorch surrogate, one of ours by name, or our ``Surrogate``; default: the papers' triangle),
``surrogate_disable``, ``init_hidden``, ``output``, ``reset_mechanism``; ``mem``,
``init_leaky()``, ``reset_mem()``. One step at a time::

    spk, mem = lif(x_t)              # x_t [B, ...]; state kept inside (or pass mem=)
    spk = lif(x_t)                   # with init_hidden=True (inside nn.Sequential)

As in ``snn.Leaky`` the state carries across calls until reset, and an input of another shape
starts it from zeros. A whole sequence at once, through the chosen backend::

    spk_seq, mem_seq = lif.forward_sequence(x_seq)   # x_seq [T, B, ...]

The defaults are the papers' neurons: the reset acts in the step that fires (SpikingJelly's
order), a neuron fires at ``mem >= threshold``, ``mem`` is the membrane after reset.
snnTorch's conventions on request (``ResetLIF.leaky(...)`` sets them all and then equals
``snn.Leaky`` spike for spike, membrane for membrane and gradient for gradient):

- ``reset_delay=True``: ``mem`` is the membrane before reset and the reset of a spike acts in
  the next step, after the decay: ``m[t] = beta m[t-1] + x[t] - threshold s[t-1]``
  (``'subtract'``), ``beta (1 - s[t-1]) m[t-1] + x[t]`` (``'zero'``);
  ``reset_mechanism='none'`` never resets;
- ``strict_threshold=True``: fire only where ``mem > threshold``;
- ``detach_reset=True``: no gradient through the reset (``snn.Leaky`` always detaches it).

These conventions run one step at a time (``forward_sequence`` loops, on the ``'torch'``
backend); the papers' neurons run on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

try:
    import snntorch as snn
    from snntorch import surrogate as snn_surrogate
except ImportError as error:  # pragma: no cover - exercised only without snntorch
    raise ImportError("spikessm_snn.adapters.snntorch needs snntorch; 'pip install snntorch==1.0.0'") from error

from ..backends.result import BackendUnavailableError
from ..neuron_modules import BackendOfNeuron, SpikingNeuron, owned_state
from ..neurons.checks import check_finite_run, check_input
from ..neurons.dynamics import NeuronState, charge, reset_potential
from ..neurons.surrogate import SpikeFunction, Surrogate, resolve_spike_function

_CLAMPS = {"decay": (0.0, 1.0), "positive": (None, None), "nonnegative": (0.0, None)}


class _Constant(nn.Module):
    """One constant as snnTorch keeps it: the tensor given (a buffer, or a Parameter when learnt),
    clamped into range where used (decays to [0, 1], as ``snn.Leaky`` clamps ``beta``)."""

    def __init__(self, name: str, value: float | Tensor, kind: str, learn: bool, shape: Sequence[int]) -> None:
        super().__init__()
        tensor = torch.as_tensor(value).detach().clone()
        if tuple(shape):
            tensor = tensor.expand(tuple(shape)).clone()
        low, high = _CLAMPS[kind]
        in_range = bool(torch.isfinite(tensor).all()) and (
            bool((tensor > 0).all()) if kind == "positive" else bool((tensor >= low).all())
        )
        if not in_range or (high is not None and bool((tensor > high).any())):
            rng = {"decay": "in [0, 1]", "positive": "> 0", "nonnegative": ">= 0"}[kind]
            raise ValueError(f"{name} must be {rng} (and finite), got {value}")
        self.name, self.low, self.high = name, low, high
        if learn:
            self.value = nn.Parameter(tensor)
        else:
            self.register_buffer("value", tensor)

    def forward(self) -> Tensor:
        if self.low is None and self.high is None:
            return self.value
        return self.value.clamp(self.low, self.high)

    def in_dtype(self, dtype: torch.dtype) -> Tensor:
        return self().to(dtype)

    def extra_repr(self) -> str:
        kind = "learnt" if isinstance(self.value, nn.Parameter) else "fixed"
        return f"{self.name}, {kind}, shape={tuple(self.value.shape)}"


class _ConstantView:
    """``lif.beta`` etc.: the tensor of the wrapped neuron's constant ``field``, read and assigned
    as ``snn.Leaky`` keeps its own."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, module: Any, owner: type) -> Any:
        return self if module is None else getattr(module.neuron, self.field).value

    def __set__(self, module: Any, value: Tensor) -> None:
        getattr(module.neuron, self.field).value = value


class _AtThreshold:
    """``spike_fn`` with its spike at ``z = 0`` set (``1``: fire at the threshold, ``0``: strictly
    above it) and its gradient unchanged."""

    def __init__(self, spike_fn: SpikeFunction, fires: bool) -> None:
        self.spike_fn, self.fires = spike_fn, float(fires)

    def __call__(self, z: Tensor) -> Tensor:
        spikes = self.spike_fn(z)
        return spikes + (self.fires - spikes).detach() * (z == 0)


class _SnnTorchNeuron(BackendOfNeuron, snn.Leaky):
    """Shared state handling: ``mem`` (and the refractory trace) as snnTorch keeps hidden states."""

    beta = _ConstantView("tau")
    threshold = _ConstantView("threshold")

    def __init__(
        self,
        constants: dict[str, _Constant],
        reset_mechanism: str,
        allowed_mechanisms: tuple[str, ...],
        reset_delay: bool,
        strict_threshold: bool,
        detach_reset: bool,
        spike_grad: str | SpikeFunction | None,
        surrogate_disable: bool,
        init_hidden: bool,
        output: bool,
        backend: str,
    ) -> None:
        if reset_mechanism not in allowed_mechanisms:
            raise ValueError(f"reset_mechanism must be one of {list(allowed_mechanisms)}, got {reset_mechanism!r}")
        spike_fn = resolve_spike_function(spike_grad, default="triangle")
        super().__init__(
            beta=None, spike_grad=spike_fn, surrogate_disable=surrogate_disable, init_hidden=init_hidden,
            reset_mechanism=reset_mechanism, output=output, reset_delay=bool(reset_delay),
        )  # fmt: skip
        if not (isinstance(self.spike_grad, Surrogate) and not strict_threshold):
            spike_fn = _AtThreshold(self.spike_grad, fires=not strict_threshold)  # ours fire at it; snnTorch's not
        self.neuron = SpikingNeuron(
            **constants, hard_reset=reset_mechanism == "zero", v_reset=0.0, surrogate=spike_fn, backend=backend,
            detach_reset=detach_reset, check_finite=True,
        )  # fmt: skip
        self.strict_threshold = bool(strict_threshold)

    # snn.Leaky.__init__ registers beta, threshold and mem itself: ours live in self.neuron and below.
    def _beta_buffer(self, beta: Any, learn_beta: bool) -> None:
        pass

    def _threshold_buffer(self, threshold: Any, learn_threshold: bool) -> None:
        pass

    def _init_mem(self) -> None:
        self.register_buffer("_mem", torch.zeros(0), persistent=False)
        self.register_buffer("_ref", torch.zeros(0), persistent=False)
        self._mem_had_graph = False

    @property
    def mem(self) -> Tensor:
        """The membrane (after reset; before it with ``reset_delay=True``), ``[B, ...]``."""
        return self._mem

    @mem.setter
    def mem(self, value: Tensor) -> None:
        # A membrane from outside (snnTorch resets by assigning zeros) restarts the refractory trace.
        if value is not self._mem:
            self._keep(value, torch.zeros_like(value))

    def _keep(self, mem: Tensor, ref: Tensor) -> None:
        self._mem, self._ref, self._mem_had_graph = mem, ref, mem.requires_grad

    def _carried(self, x: Tensor) -> NeuronState:
        if self._mem.shape != x.shape:  # snn.Leaky's rule: another shape starts from zeros
            self.mem = torch.zeros_like(x)
        ref = self._ref
        if self._mem_had_graph and not self._mem.requires_grad:  # mem.detach_() (detach_hidden): the trace too
            ref = ref.detach()
        return NeuronState(self._mem, ref)

    @property
    def _papers_order(self) -> bool:
        """Reset in the step that fires: one of our neurons, on every backend."""
        return not self.reset_delay and self.reset_mechanism != "none"

    def _step(self, x: Tensor) -> tuple[Tensor, Tensor]:
        state = self._carried(x)
        if self._papers_order:
            spikes, (v, r) = self.neuron.step(x, state)
            self._keep(v, r)
            return spikes, v
        check_input(x, multi_step=False)
        p = self.neuron.parameters_for(x)
        mem = state.v
        if self.reset_mechanism != "none":
            previous = self.neuron.spike_fn(mem - p.threshold)  # the last step's spike, from mem as snn.Leaky
            previous = previous.detach() if self.neuron.detach_reset else previous
            if self.reset_mechanism == "zero":
                mem = reset_potential(mem, previous, p)
        mem = charge(x, mem, p.tau)
        if self.reset_mechanism == "subtract":
            mem = mem - p.threshold * previous
        if self.neuron.check_finite:
            check_finite_run(x, (mem,), "x")
        self._keep(mem, state.r)
        return self.neuron.spike_fn(mem - p.threshold), mem

    def _take(self, mem: Tensor | None) -> None:
        if mem is None:
            return
        if self.init_hidden:
            raise TypeError("`mem` should not be passed as an argument while `init_hidden=True`")
        self.mem = mem

    def _outputs(self, spikes: Tensor, mem: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return spikes if self.init_hidden and not self.output else (spikes, mem)

    def extra_repr(self) -> str:
        return (
            f"reset_mechanism={self.reset_mechanism!r}, reset_delay={self.reset_delay}, "
            f"strict_threshold={self.strict_threshold}, init_hidden={self.init_hidden}, output={self.output}"
        )

    def forward_sequence(self, x_seq: Tensor, mem: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """``x_seq [T, B, ...]`` -> ``spk_seq`` and ``mem_seq`` ``[T, B, ...]``, as ``T`` steps would give."""
        self._take(mem)
        parallel = self._papers_order and not isinstance(self.neuron.spike_fn, _AtThreshold)
        if self.backend != "torch" and not parallel:
            raise BackendUnavailableError(
                f"backend {self.backend!r} cannot run snnTorch's conventions (reset_delay=True, "
                "reset_mechanism='none', strict_threshold=True or a surrogate that is not ours): use 'torch'"
            )
        if self._papers_order:
            result = self.neuron(x_seq, self._carried(x_seq[0]), record=True)
            self._keep(*owned_state(result.state))
            return self._outputs(result.spikes, result.v_seq)
        spikes, mems = zip(*(self._step(x) for x in x_seq), strict=True)
        return self._outputs(torch.stack(spikes), torch.stack(mems))


class SRR(_SnnTorchNeuron):
    """SPikE-SSM's SRR neuron: ``forward(input_, mem=None, ref=None) -> spk, mem``.

    ``beta`` membrane decay, ``beta_r`` refractory decay, ``threshold`` (U_th, also the soft
    reset amount), ``refractory`` (v_th, the rise of the threshold per spike); soft reset only
    (``reset_mechanism='subtract'``), in the step that fires.

    Returns ``spk, mem`` as ``snn.Leaky`` does, so SRR replaces ``snn.Leaky`` in code written for
    it (``spk, mem = neuron(x, mem)``, ``backprop``'s two outputs). Its second state, the
    refractory trace, is kept inside as ``ref`` (as snnTorch keeps ``mem`` with
    ``init_hidden``): pass ``ref=`` to set it. It follows the membrane it was computed with: a
    reset (``reset_mem``, ``init_leaky``, ``snntorch.utils.reset``) or another ``mem`` passed in
    starts it from 0 unless ``ref=`` is given, and ``detach_hidden`` cuts it too.
    """

    beta_r = _ConstantView("tau_r")
    refractory = _ConstantView("refractory")

    def __init__(
        self,
        beta: float | Tensor = 0.5,
        beta_r: float | Tensor = 0.5,
        threshold: float | Tensor = 1.0,
        refractory: float | Tensor = 1.0,
        spike_grad: str | SpikeFunction | None = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        *,
        learn_beta: bool = False,
        learn_beta_r: bool = False,
        learn_threshold: bool = False,
        learn_refractory: bool = False,
        reset_mechanism: str = "subtract",
        output: bool = False,
        strict_threshold: bool = False,
        detach_reset: bool = False,
        backend: str = "torch",
        shape: Sequence[int] = (),
    ) -> None:
        constants = {
            "tau": _Constant("beta", beta, "decay", learn_beta, shape),
            "threshold": _Constant("threshold", threshold, "positive", learn_threshold, shape),
            "tau_r": _Constant("beta_r", beta_r, "decay", learn_beta_r, shape),
            "refractory": _Constant("refractory", refractory, "nonnegative", learn_refractory, shape),
        }
        super().__init__(
            constants, reset_mechanism, ("subtract",), False, strict_threshold, detach_reset, spike_grad,
            surrogate_disable, init_hidden, output, backend,
        )  # fmt: skip

    @property
    def ref(self) -> Tensor:
        """The refractory trace (the threshold's rise from earlier spikes), ``[B, ...]``."""
        return self._ref

    def forward(self, input_: Tensor, mem: Tensor | None = None, ref: Tensor | None = None) -> Any:
        self._take(mem)
        if ref is not None:
            self._ref = ref
        return self._outputs(*self._step(input_))


class ResetLIF(_SnnTorchNeuron):
    """SpikingSSMs' reset-LIF: ``forward(input_, mem=None) -> spk, mem`` as ``snn.Leaky``.

    Defaults are the paper's: ``beta = 0.125``, hard reset (``reset_mechanism='zero'``) in the
    step that fires, firing at ``mem >= threshold``, triangle surrogate. ``'subtract'`` resets
    softly; ``'none'`` never resets. For snnTorch's conventions see the module docstring.
    """

    def __init__(
        self,
        beta: float | Tensor = 0.125,
        threshold: float | Tensor = 1.0,
        spike_grad: str | SpikeFunction | None = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        *,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "zero",
        output: bool = False,
        reset_delay: bool = False,
        strict_threshold: bool = False,
        detach_reset: bool = False,
        backend: str = "torch",
        shape: Sequence[int] = (),
    ) -> None:
        constants = {
            "tau": _Constant("beta", beta, "decay", learn_beta, shape),
            "threshold": _Constant("threshold", threshold, "positive", learn_threshold, shape),
            "tau_r": _Constant("beta_r", 0.0, "decay", False, ()),
            "refractory": _Constant("refractory", 0.0, "nonnegative", False, ()),
        }
        super().__init__(
            constants, reset_mechanism, ("subtract", "zero", "none"), reset_delay, strict_threshold, detach_reset,
            spike_grad, surrogate_disable, init_hidden, output, backend,
        )  # fmt: skip

    @classmethod
    def leaky(cls, beta: float | Tensor, threshold: float | Tensor = 1.0, **kwargs: Any) -> ResetLIF:
        """snnTorch's conventions (module docstring), with ``snn.Leaky``'s defaults: equal to
        ``snn.Leaky(beta, threshold, **kwargs)`` spike for spike, membrane for membrane and, with
        the same surrogate, gradient for gradient."""
        settings: dict[str, Any] = {
            "reset_mechanism": "subtract", "reset_delay": True, "strict_threshold": True, "detach_reset": True,
            **kwargs,
        }  # fmt: skip
        if settings.get("spike_grad") is None:
            settings["spike_grad"] = snn_surrogate.atan()
        return cls(beta, threshold, **settings)

    def forward(self, input_: Tensor, mem: Tensor | None = None) -> Any:
        self._take(mem)
        return self._outputs(*self._step(input_))


def reset(net: nn.Module) -> None:
    """Reset every snnTorch neuron anywhere in ``net`` (``snntorch.utils.reset`` looks only at the
    top level): ours and snnTorch's own."""
    for module in net.modules():
        if isinstance(module, snn.SpikingNeuron) and hasattr(module, "reset_mem"):
            module.reset_mem()
