"""Backend ``'chunked'``: the neurons time-parallel and exact, by speculation and repair over chunks of time.

``speculation.py`` is the algorithm (in torch), ``source.py`` the same as CUDA kernels (with a
backward by chunks of time), ``launch.py`` their launcher, ``torch_path.py`` the torch forward
and the backward as a reverse scan (``backends/scan_backward.py``, shared with ``'pmbc'``). Both paths share the fused
backend's wrapper (``run_fused``): its shapes, checks and recording. On a CUDA tensor where CuPy
is installed the kernels run; anywhere else the torch path runs.

Exact: spikes and states equal the ``'torch'`` loop's bit for bit (the same float arithmetic,
step for step). Where chunks never meet their speculation (soft reset with a decay near 1,
where the difference of two starts never rounds away), the finish walks the chunks one after
the other: the sequential loop, exact, at its speed (plus the speculation); ``'auto'`` leaves
such constants to the sequential backends (``auto.MEETING_DECAY``). float32 and float64.
With ``check_finite`` the overflow check reduces the saved ``h`` once more (on the device; the
call's one host synchronisation reads the flag, as for ``'cupy'``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...neurons.dynamics import NeuronParameters
from ...neurons.surrogate import SpikeFunction, Surrogate
from ..fused import cupy_missing, run_fused
from ..fused.autograd import Kernels
from ..result import MultiStepResult
from .launch import CHUNKED_KERNELS
from .torch_path import TORCH_KERNELS


def chunked_kernels(x: Tensor) -> Kernels:
    """The CUDA kernels for a CUDA tensor where CuPy is installed, else the torch path."""
    return CHUNKED_KERNELS if x.is_cuda and cupy_missing() is None else TORCH_KERNELS


def run_chunked(x_seq: Tensor, *args: object) -> MultiStepResult:
    """``x_seq [T, B, ...]`` and the other arguments of every backend (``reference.run_reference``)
    -> the loop's spikes and states, chunks of time in parallel."""
    return run_fused(x_seq, *args, kernels=chunked_kernels(x_seq))


def chunked_unsupported(x_seq: Tensor, p: NeuronParameters, spike_fn: SpikeFunction) -> str | None:
    if x_seq.dtype not in (torch.float32, torch.float64):
        return f"it computes in float32 or float64, got {x_seq.dtype}; use 'cupy' or 'torch' for half precision"
    if not isinstance(spike_fn, Surrogate):
        return "its backward needs the surrogate's derivative: give a surrogate by name or a Surrogate"
    return None


__all__ = ["chunked_kernels", "chunked_unsupported", "run_chunked"]
