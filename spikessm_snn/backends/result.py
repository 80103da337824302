"""What every multi-step backend returns, and the error for one that cannot run here."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from ..neurons.dynamics import NeuronState


class MultiStepResult(NamedTuple):
    """Spikes ``[T, B, ...]``, the state after the last step, (when recorded) the membrane
    after reset ``v_seq`` and refractory trace ``r_seq``, each ``[T, B, ...]``, and what the
    backend reports of its work (e.g. PMBC's ``iterations``)."""

    spikes: Tensor
    state: NeuronState
    v_seq: Tensor | None = None
    r_seq: Tensor | None = None
    stats: dict[str, int] | None = None


class BackendUnavailableError(RuntimeError):
    """A backend was asked for where it cannot run; the message says what is missing."""
