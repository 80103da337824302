"""What every multi-step backend returns, and the error for one that cannot run here."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from ..neurons.dynamics import NeuronState


class MultiStepResult(NamedTuple):
    """Spikes ``[T, B, ...]``, the state after the last step, and (when recorded) the
    membrane after reset ``v_seq`` and refractory trace ``r_seq``, each ``[T, B, ...]``."""

    spikes: Tensor
    state: NeuronState
    v_seq: Tensor | None = None
    r_seq: Tensor | None = None


class BackendUnavailableError(RuntimeError):
    """A backend was asked for where it cannot run; the message says what is missing."""
