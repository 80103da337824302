"""Backend ``'auto'``: the fastest exact backend for the device, dtype and shape, by one table.

Rows ``(most neurons B*D, fewest steps T, calls)`` per device type: a float32/float64 call inside
any row meant for it runs ``'chunked'``. A row's ``calls`` are ``"all"``, ``"hard reset"`` (a
hard-reset neuron: its chunks meet at the first shared spike, so its finish is cheaper than a
soft reset's) or ``"backward"`` (autograd will run a backward: gradients are enabled and the
input, the given state or a constant requires them). On a GPU (CuPy installed) the rest runs
``'cupy'`` (the only one of the two for float16/bfloat16). The GPU row is measured on an H100
(``analysis/results/chunked/staged/``: C = 128, 3 repairs, against the ``'cupy'`` kernels that
stage their input through shared memory; the full map, B*D 256 to 64 * 256, T 1024 to 262144):
at B*D <= 4 * 256 and T >= 16384 ``'chunked'`` won forward and forward+backward for SRR and the
hard-reset LIF (1.31x to 14.8x); at T <= 4096 ``'cupy'`` won everywhere (0.38x to 0.91x, but SRR's
forward+backward at B*D 256, T 1024: 1.15x); at B*D = 16 * 256 ``'chunked'`` lost or tied the
forward+backward at every T (0.67x to 1.06x) and SRR's forward (0.53x to 1.07x), and at
B*D = 64 * 256 ``'cupy'`` won everywhere (0.45x to 0.98x). A soft-reset LIF takes SRR's rows (the
soft reset's). On a CPU (or a GPU without CuPy) the rest runs the ``'torch'`` loop; the CPU row is
measured (``bench_chunked.py --quick --neurons 256 1024 --steps 1024 4096 16384``, a 2-core CPU
shared with other work, so noisy: medians of 5, two runs): the torch path of ``'chunked'`` against
the loop, forward / forward+backward, at B*D = 256: SRR T = 4096 1.7x / 2.7x and 3.5x / 5.5x, T =
16384 1.1x / 2.3x, the hard-reset LIF T = 4096 7.4x / 3.9x; at T = 1024 it was mixed (SRR 1.6x /
2.4x in one run, 0.9x / 0.2x in the other), and at B*D = 1024 it lost at T = 1024 (0.64x / 0.94x),
won at T = 4096 (2.3x / 1.2x).
``'pmbc'`` loses to the loop on a CPU everywhere measured. A spike function without a surrogate
derivative always runs ``'torch'``.

The constants: where chunks never meet their speculation the finish walks them in order, the
sequential loop (0.21x to 0.27x of ``'cupy'``'s forward on the H100 at tau = 1, soft reset). A
hard reset meets at the first spike both trajectories share; a soft reset only once the
difference of two starts rounds away, so it depends on the largest decay of the state (``tau``,
and ``tau_r`` where the refractory trace moves). Measured with the torch algorithm (the kernels'
arithmetic: ``analysis/chunked_meeting.py``, ``analysis/results/chunked/meeting.md``; C = 128,
3 repairs, N(0.3, 1.2) input): the worst neuron's finish walks at most 0.1% of T up to a decay of
0.9 in float32 and 0.5% up to 0.88 in float64, then 9% to 19% (float32, 0.93 and 0.95; float64:
7% at 0.9) and most of T from 0.97 (float64: 0.93) on; the hard reset, nothing at any decay. So
``'chunked'`` runs a soft reset only at a decay up to ``MEETING_DECAY`` (in the
input's dtype), whatever the shape. The neuron says its decay from values known on the host
(``SpikingNeuron.soft_reset_decay``: fixed constants as given, or as the range check last found
them), never reading the device, so ``'auto'`` waits for nothing with ``check_finite=False``.
Where it does not know them (a trainable constant changed since its last check, which is every
training step without ``check_finite``; the snnTorch adapter's constants; ``run_backend('auto')``
called without a neuron) the table alone decides (shape, reset, backward).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from ..neurons.surrogate import SpikeFunction, Surrogate
from .fused import cupy_missing

# Where 'chunked' wins, per device type: rows of (most neurons B*D, fewest steps T, the calls it is for)
CHUNKED_WINS: dict[str, list[tuple[int, int, str]]] = {
    "cuda": [(4 * 256, 16384, "all")],
    "cpu": [(256, 4096, "all")],
}

# The largest soft-reset decay at which 'chunked''s chunks meet their speculation, per dtype
MEETING_DECAY: dict[torch.dtype, float] = {torch.float32: 0.9, torch.float64: 0.88}
_HOST_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

log = logging.getLogger(__name__)


def chunks_meet(soft_decay: float | None, dtype: torch.dtype) -> bool:
    """Whether ``'chunked'`` runs mostly in parallel: ``soft_decay`` (the largest decay of a
    soft-reset neuron's state, host-side; ``None``: hard reset, or not known) rounded to ``dtype``
    is at most ``MEETING_DECAY[dtype]``, or is ``None``."""
    return soft_decay is None or float(_HOST_DTYPES[dtype](soft_decay)) <= MEETING_DECAY[dtype]


def chosen_backend(x_seq: Tensor, spike_fn: SpikeFunction, soft_decay: float | None = None, hard_reset: bool = False,
                   backward: bool = False) -> str:  # fmt: skip
    """The exact backend ``'auto'`` runs for input ``x_seq [T, B, ...]`` and ``spike_fn``, given the
    neuron's ``soft_decay`` (see ``chunks_meet``), whether it resets hard and whether a backward
    follows (``fused.autograd.backward_follows``)."""
    if not isinstance(spike_fn, Surrogate):
        return "torch"
    on_gpu = x_seq.is_cuda and cupy_missing() is None
    if x_seq.dtype not in (torch.float32, torch.float64):
        return "cupy" if on_gpu else "torch"
    steps, neurons = x_seq.shape[0], x_seq[0].numel()
    calls = {"all"} | ({"hard reset"} if hard_reset else set()) | ({"backward"} if backward else set())
    rows = CHUNKED_WINS["cuda" if on_gpu else "cpu"]
    in_a_row = any(neurons <= most and steps >= fewest and row_calls in calls for most, fewest, row_calls in rows)
    if in_a_row and chunks_meet(soft_decay, x_seq.dtype):
        return "chunked"
    return "cupy" if on_gpu else "torch"


def resolved_backend(name: str, x_seq: Tensor, spike_fn: SpikeFunction, soft_decay: float | None = None,
                     hard_reset: bool = False, backward: bool = False) -> str:  # fmt: skip
    """``name``, or for ``'auto'`` the backend it picks for the call (logged at debug level)."""
    if name != "auto":
        return name
    chosen = chosen_backend(x_seq, spike_fn, soft_decay, hard_reset, backward)
    log.debug("backend 'auto' picked %r for %s input of shape %s on %s", chosen, x_seq.dtype, tuple(x_seq.shape),
              x_seq.device)  # fmt: skip
    return chosen
