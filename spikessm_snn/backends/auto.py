"""Backend ``'auto'``: the fastest exact backend for the device, dtype and shape, by one table.

On a CPU the ``'torch'`` loop (measured on a 2-core CPU, medians of 3-5 runs, no gradient,
B*D = 256 and 1024, T = 256 to 16384: the torch path of ``'chunked'`` was 2-3x faster only for
the hard-reset LIF at B*D = 256 and T >= 4096, and slower for SRR and wider layers; ``'pmbc'``
loses to the loop everywhere). On a CUDA device with CuPy: ``'chunked'`` where
``CHUNKED_WINS`` says (few neurons, long sequences: the sequential kernel is latency-bound
there), else ``'cupy'`` (the only one of the two for float16/bfloat16). Without CuPy, ``'torch'``.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from .fused import cupy_missing

# Where 'chunked' beats 'cupy' on a GPU: (most neurons B*D, fewest steps T) per row; a call
# inside any row picks 'chunked'. A conservative first rule, to be refined from GPU measurements
# (analysis/bench_chunked.py).
CHUNKED_WINS: list[tuple[int, int]] = [(4 * 256, 8192)]

log = logging.getLogger(__name__)


def chosen_backend(x_seq: Tensor) -> str:
    """The exact backend ``'auto'`` runs for input ``x_seq [T, B, ...]``."""
    if not x_seq.is_cuda or cupy_missing() is not None:
        return "torch"
    if x_seq.dtype not in (torch.float32, torch.float64):
        return "cupy"
    steps, neurons = x_seq.shape[0], x_seq[0].numel()
    wins = any(neurons <= most and steps >= fewest for most, fewest in CHUNKED_WINS)
    return "chunked" if wins else "cupy"


def resolved_backend(name: str, x_seq: Tensor) -> str:
    """``name``, or for ``'auto'`` the backend it picks for ``x_seq`` (logged at debug level)."""
    if name != "auto":
        return name
    chosen = chosen_backend(x_seq)
    log.debug("backend 'auto' picked %r for %s input of shape %s on %s", chosen, x_seq.dtype, tuple(x_seq.shape),
              x_seq.device)  # fmt: skip
    return chosen
