"""Framework-free neuron modules: parameters, surrogate and backend; state passed explicitly.

``neuron(x_seq [T, B, ...], state=None) -> MultiStepResult`` runs the chosen multi-step
backend; ``neuron.step(x [B, ...], state=None) -> (spikes, state)`` runs one step of the
same equations (``dynamics.neuron_step``). The SpikingJelly and snnTorch adapters, and the
SSM blocks, are thin wrappers over these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .backends.auto import resolved_backend
from .backends.fused.autograd import backward_follows
from .backends.registry import BACKENDS, constants_dtype, get_backend, run_backend
from .backends.result import MultiStepResult
from .neurons.checks import check_finite_run, check_input, check_parameters, check_state
from .neurons.dynamics import NeuronParameters, NeuronState, neuron_step, zero_state
from .neurons.parameters import ConstrainedParameter, check_in_range, fixed_identity, known_max
from .neurons.surrogate import SpikeFunction, resolve_spike_function


class SpikingNeuron(nn.Module):
    """A member of the neuron family of ``dynamics.py`` (use ``SRRNeuron`` / ``ResetLIFNeuron``).

    Each constant is a module whose call returns its value and whose ``in_dtype(dtype)`` returns it
    in the dtype a backend computes in: a ``ConstrainedParameter``, or (in the snnTorch adapter) the
    tensor as snnTorch keeps it.
    """

    def __init__(
        self,
        tau: nn.Module,
        threshold: nn.Module,
        tau_r: nn.Module,
        refractory: nn.Module,
        hard_reset: bool,
        v_reset: float,
        surrogate: str | SpikeFunction | None,
        backend: str,
        detach_reset: bool,
        check_finite: bool,
    ) -> None:
        super().__init__()
        self.tau, self.threshold, self.tau_r, self.refractory = tau, threshold, tau_r, refractory
        self.hard_reset, self.v_reset = bool(hard_reset), float(v_reset)
        self.spike_fn = resolve_spike_function(surrogate, default="triangle")
        self.detach_reset, self.check_finite = bool(detach_reset), bool(check_finite)
        self.backend = backend
        self.last_backend: str | None = None  # the backend the last multi-step call ran ('auto' resolved)
        self._last_checked: tuple | None = None  # (key, parameters, stored values) of parameters_for

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        get_backend(name)  # raises for an unknown name or one not installed here
        self._backend = name

    @property
    def supported_backends(self) -> tuple[str, ...]:
        return tuple(BACKENDS)

    def parameters_for(self, x: Tensor, dtype: torch.dtype | None = None) -> NeuronParameters:
        """The current constants in ``dtype`` (default: the input's), checked against one step's shape
        and (when they changed since the last check) against their ranges in that dtype; trainable
        ones only with ``check_finite`` (``check_in_range``). Fixed constants checked for the same step
        shape, device and dtype, unchanged since (``fixed_identity``), are handed over as they were."""
        step_shape = x.shape[1:] if x.dim() >= 2 else x.shape
        dtype = x.dtype if dtype is None else dtype
        constants = (self.tau, self.threshold, self.tau_r, self.refractory)
        identity = fixed_identity(constants)
        key = None if identity is None else (identity, step_shape, x.device, dtype, self.hard_reset, self.v_reset)
        last = self._last_checked
        if key is not None and last is not None and last[0] == key:
            return last[1]
        values = [constant.in_dtype(dtype) for constant in constants]
        check_in_range(constants, values, dtype, trainable=self.check_finite)  # without: no host sync per step
        # kept with the stored values (holding them keeps the key's ids from being reused); not values
        # rounded under inference mode, which a later call with gradients cannot save for its backward
        keep = key is not None and not torch.is_inference_mode_enabled()
        p = NeuronParameters(*values, self.hard_reset, self.v_reset, kept=keep)
        check_parameters(p, step_shape, x.device)
        self._last_checked = (key, p, [c.value for c in constants]) if keep else None
        return p

    def soft_reset_decay(self) -> float | None:
        """The largest decay of the state under soft reset (``tau``, and ``tau_r`` unless the
        refractory magnitude is known to be 0), as known on the host (``parameters.known_max``): what
        ``'auto'`` reads to tell whether ``'chunked'``'s chunks meet. ``None`` for a hard reset, or
        where a constant is not known without reading the device (a trainable one changed since its
        last range check, the snnTorch adapter's)."""
        if self.hard_reset:
            return None
        decays = [known_max(self.tau)]
        if known_max(self.refractory) != 0.0:
            decays.append(known_max(self.tau_r))
        return None if None in decays else max(decays)

    def forward(self, x_seq: Tensor, state: NeuronState | None = None, record: bool = False) -> MultiStepResult:
        """``x_seq [T, B, ...]`` -> spikes ``[T, B, ...]`` and the final state, by ``self.backend``.

        Half-precision input: ``'torch'`` (and ``'pmbc'``, equal to it) compute in the input's dtype
        with the constants rounded to it; ``'cupy'`` computes in float32 on the upcast input with
        the float32 constants (``registry.constants_dtype``). ``'auto'`` runs the backend
        ``auto.chosen_backend`` picks for ``x_seq``, ``soft_reset_decay()``, the reset and whether a
        backward follows; ``last_backend`` names the one that ran.
        """
        check_input(x_seq, multi_step=True)  # NaN/inf and overflow: checked by the backend
        name = self.backend
        if name == "auto":
            backward = backward_follows(x_seq, *(() if state is None else state), *self.parameters())
            name = resolved_backend(name, x_seq, self.spike_fn, self.soft_reset_decay(), self.hard_reset, backward)
        self.last_backend = name
        p = self.parameters_for(x_seq[0], constants_dtype(name, x_seq.dtype))
        state = self._checked_state(x_seq[0], state)  # None: the zero state, made by a backend that needs it
        return run_backend(name, x_seq, state, p, self.spike_fn, self.detach_reset, record, self.check_finite)

    def step(self, x: Tensor, state: NeuronState | None = None) -> tuple[Tensor, NeuronState]:
        """One step ``x [B, ...]`` -> ``(spikes [B, ...], state)``; the same maths as every backend.
        With ``check_finite``, NaN/inf in ``x`` or a state that overflowed raise."""
        check_input(x, multi_step=False)
        p = self.parameters_for(x)
        state = self._checked_state(x, state)
        spikes, new_state = neuron_step(x, zero_state(x) if state is None else state, p, self.spike_fn,
                                        self.detach_reset)  # fmt: skip
        if self.check_finite:
            check_finite_run(x, new_state, "x")
        return spikes, new_state

    @staticmethod
    def _checked_state(x: Tensor, state: NeuronState | None) -> NeuronState | None:
        """``state`` checked against one step ``x [B, ...]``; ``None`` (the zero state) stays ``None``."""
        if state is None:
            return None
        state = NeuronState(*state)
        check_state(state, x.shape, x)
        return state

    def extra_repr(self) -> str:
        reset = f"hard (v_reset={self.v_reset})" if self.hard_reset else "soft"
        picked = f" (last picked {self.last_backend!r})" if self.backend == "auto" and self.last_backend else ""
        return f"reset={reset}, backend={self.backend!r}{picked}, detach_reset={self.detach_reset}"


def owned_state(state: NeuronState) -> NeuronState:
    """``state`` with storage of its own, to keep between calls: a backend's final state may be a
    view of its ``[T, ...]`` output, which would stay alive and cannot be detached in place."""
    return NeuronState(*(s.clone() if s._base is not None else s for s in state))


class BackendOfNeuron:
    """``backend`` / ``supported_backends`` of a wrapped ``self.neuron`` (for the adapters)."""

    neuron: SpikingNeuron

    @property
    def backend(self) -> str:
        return self.neuron.backend

    @backend.setter
    def backend(self, name: str) -> None:
        self.neuron.backend = name

    @property
    def supported_backends(self) -> tuple[str, ...]:
        """Every multi-step backend; single steps always run the shared step equations."""
        return self.neuron.supported_backends


class SRRNeuron(SpikingNeuron):
    """SPikE-SSM's refractory neuron with soft reset (``srr-and-pmbc.md`` section 1).

    ``h = tau v + x;  s = H(h - U_th - r);  v = h - U_th s;  r = tau_r r + v_th s``.
    Defaults: ``U_th = v_th = 1`` as in the paper's ablation; ``tau = tau_r = 0.5`` (the
    paper leaves them to training; our choice). Each constant is a scalar (``shape=()``) or
    per channel (``shape=(D,)`` for ``[T, B, ..., D]``, ``(C, 1, 1)`` for ``[T, B, C, H, W]``)
    and fixed or trainable (``learn_*``: decays through sigmoid, magnitudes through softplus).
    """

    def __init__(
        self,
        tau: float = 0.5,
        tau_r: float = 0.5,
        u_th: float = 1.0,
        v_th: float = 1.0,
        shape: Sequence[int] = (),
        learn_tau: bool = False,
        learn_tau_r: bool = False,
        learn_u_th: bool = False,
        learn_v_th: bool = False,
        surrogate: str | SpikeFunction | None = "triangle",
        backend: str = "torch",
        detach_reset: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__(
            ConstrainedParameter("tau", tau, "decay", learn_tau, shape),
            ConstrainedParameter("u_th", u_th, "positive", learn_u_th, shape),
            ConstrainedParameter("tau_r", tau_r, "refractory_decay", learn_tau_r, shape),
            ConstrainedParameter("v_th", v_th, "nonnegative", learn_v_th, shape),
            hard_reset=False,
            v_reset=0.0,
            surrogate=surrogate,
            backend=backend,
            detach_reset=detach_reset,
            check_finite=check_finite,
        )


class ResetLIFNeuron(SpikingNeuron):
    """SpikingSSMs' LIF with reset (``spikingssm-and-sdn.md`` section 1).

    ``u = tau u + x;  s = H(u - v_threshold);`` then ``u = v_reset`` where ``s`` (``reset='hard'``,
    the paper's) or ``u -= v_threshold * s`` (``'soft'``). Defaults are the published code's:
    ``tau = 0.125``, ``v_threshold = 1``, hard reset to 0, triangle surrogate.
    """

    def __init__(
        self,
        tau: float = 0.125,
        v_threshold: float = 1.0,
        reset: str = "hard",
        v_reset: float = 0.0,
        shape: Sequence[int] = (),
        learn_tau: bool = False,
        learn_threshold: bool = False,
        surrogate: str | SpikeFunction | None = "triangle",
        backend: str = "torch",
        detach_reset: bool = False,
        check_finite: bool = True,
    ) -> None:
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        if not math.isfinite(v_reset):
            raise ValueError(f"v_reset must be finite, got {v_reset}")
        super().__init__(
            ConstrainedParameter("tau", tau, "decay", learn_tau, shape),
            ConstrainedParameter("v_threshold", v_threshold, "positive", learn_threshold, shape),
            ConstrainedParameter("tau_r", 0.0, "refractory_decay", False, shape),
            ConstrainedParameter("refractory", 0.0, "nonnegative", False, shape),
            hard_reset=reset == "hard",
            v_reset=v_reset,
            surrogate=surrogate,
            backend=backend,
            detach_reset=detach_reset,
            check_finite=check_finite,
        )
