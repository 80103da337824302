"""The chunked forward kernels (``source.py``) launched on torch tensors, as ``fused.autograd.Kernels``
with the fused backward kernel: the saved ``h`` and ``r`` are the sequential forward's, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..fused.autograd import SAVE_EVERY_R, Kernels, _launch_backward
from ..fused.launch import launch
from ..fused.source import KernelSpec
from .source import chunked_source
from .speculation import CHUNK_STEPS, REPAIR_PASSES


def flag_overflow(non_finite: Tensor | None, h: Tensor, r_last: Tensor) -> None:
    """Or bit 2 into ``non_finite`` (if given) where a charged potential or the final trace is not
    finite (the state overflowed; a trace once inf stays inf), without waiting for the device."""
    if non_finite is not None:
        bad = ~(torch.isfinite(h).all() & torch.isfinite(r_last).all())
        non_finite.bitwise_or_(bad.to(non_finite.dtype) * 2)


def launch_chunked_forward(
    spec: KernelSpec, x: Tensor, constants: list[Tensor], v: Tensor, r: Tensor, v_reset: float, save: int,
    non_finite: Tensor | None, chunk: int = CHUNK_STEPS, passes: int = REPAIR_PASSES,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """As ``fused.autograd._launch_forward`` (spikes, ``h``, ``r`` ``[T, N]``; ``v``, ``r`` ``[N]``
    advance in place), by speculation, ``passes`` repairs and the finish. ``h`` and ``r`` are
    always written: the repairs compare with them."""
    steps, n = x.shape
    chunks = math.ceil(steps / chunk)
    spikes = torch.empty_like(x)
    h, r_seq = (torch.empty_like(x, dtype=v.dtype) for _ in range(2))
    starts = [torch.empty((chunks, n), dtype=v.dtype, device=x.device) for _ in range(2)]
    ends = [torch.empty((chunks, n), dtype=v.dtype, device=x.device) for _ in range(4)]
    v0, r0 = v.clone(), r.clone()
    every_r = np.int32(save == SAVE_EVERY_R)
    neuron = [x, spikes, h, r_seq, *constants]
    threads = chunks * n
    shape = [steps, n, chunk]
    launch(spec, "chunk_speculate", threads, x.device,
           [*neuron, v0, r0, *starts, *ends[:2], *shape, v_reset, every_r, non_finite], chunked_source)  # fmt: skip
    for _ in range(passes):
        launch(spec, "chunk_repair", threads, x.device,
               [*neuron, r0, *starts, *ends, *shape, v_reset, every_r], chunked_source)  # fmt: skip
        ends = ends[2:] + ends[:2]
    first_wrong = torch.full((n,), chunks, dtype=torch.int32, device=x.device)
    launch(spec, "chunk_first_wrong", threads, x.device, [*starts, *ends[:2], first_wrong, *shape],
           chunked_source)  # fmt: skip
    launch(spec, "chunk_finish", n, x.device,
           [*neuron, r0, *starts, *ends[:2], first_wrong, v, r, *shape, v_reset, every_r], chunked_source)  # fmt: skip
    flag_overflow(non_finite, h, r)
    return spikes, h, r_seq


CHUNKED_KERNELS = Kernels("chunked", launch_chunked_forward, _launch_backward)
