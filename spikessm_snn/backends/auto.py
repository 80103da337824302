"""Backend ``'auto'``: the fastest exact backend for the device, dtype and shape, by one table.

Rows ``(most neurons B*D, fewest steps T)`` per device type: a float32/float64 call inside any
row runs ``'chunked'``. On a GPU (CuPy installed) the rest runs ``'cupy'`` (the only one of the
two for float16/bfloat16). The GPU row is measured on an H100 (``analysis/results/chunked/``):
at B*D <= 1024 and T >= 16384 ``'chunked'`` won forward and forward+backward for SRR and the
hard-reset LIF (1.3x to 15x); at T <= 4096, or B*D >= 16 * 256, ``'cupy'`` won; at B*D = 4 * 256
only the LIF won, so the row stops at 1024. Constants whose chunks never meet (soft reset with a
decay near 1: the sequential finish) are slower on ``'chunked'`` (0.4x forward at tau = 1); the
table does not look at the constants. On a CPU (or a GPU without CuPy) the rest runs the ``'torch'``
loop; the CPU row is measured (``bench_chunked.py --quick --neurons 256 1024 --steps 1024 4096
16384``, a 2-core CPU shared with other work, so noisy: medians of 5, two runs): the torch path
of ``'chunked'`` against the loop, forward / forward+backward, at B*D = 256: SRR T = 4096
1.7x / 2.7x and 3.5x / 5.5x, T = 16384 1.1x / 2.3x, the hard-reset LIF T = 4096 7.4x / 3.9x;
at T = 1024 it was mixed (SRR 1.6x / 2.4x in one run, 0.9x / 0.2x in the other), and at
B*D = 1024 it lost at T = 1024 (0.64x / 0.94x), won at T = 4096 (2.3x / 1.2x).
``'pmbc'`` loses to the loop on a CPU everywhere measured. A spike function without a surrogate
derivative always runs ``'torch'``.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from ..neurons.surrogate import SpikeFunction, Surrogate
from .fused import cupy_missing

# Where 'chunked' wins, per device type: rows of (most neurons B*D, fewest steps T)
CHUNKED_WINS: dict[str, list[tuple[int, int]]] = {"cuda": [(4 * 256, 16384)], "cpu": [(256, 4096)]}

log = logging.getLogger(__name__)


def chosen_backend(x_seq: Tensor, spike_fn: SpikeFunction) -> str:
    """The exact backend ``'auto'`` runs for input ``x_seq [T, B, ...]`` and ``spike_fn``."""
    if not isinstance(spike_fn, Surrogate):
        return "torch"
    on_gpu = x_seq.is_cuda and cupy_missing() is None
    if x_seq.dtype not in (torch.float32, torch.float64):
        return "cupy" if on_gpu else "torch"
    steps, neurons = x_seq.shape[0], x_seq[0].numel()
    rows = CHUNKED_WINS["cuda" if on_gpu else "cpu"]
    if any(neurons <= most and steps >= fewest for most, fewest in rows):
        return "chunked"
    return "cupy" if on_gpu else "torch"


def resolved_backend(name: str, x_seq: Tensor, spike_fn: SpikeFunction) -> str:
    """``name``, or for ``'auto'`` the backend it picks for the call (logged at debug level)."""
    if name != "auto":
        return name
    chosen = chosen_backend(x_seq, spike_fn)
    log.debug("backend 'auto' picked %r for %s input of shape %s on %s", chosen, x_seq.dtype, tuple(x_seq.shape),
              x_seq.device)  # fmt: skip
    return chosen
