"""The chunked kernels (``source.py``) launched on torch tensors, as ``fused.autograd.Kernels``: the
forward writes every step's ``h`` and ``r`` where something reads them (the backward, the record,
the overflow check), and the backward reads them."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..fused.autograd import (
    GRADIENT_NAMES,
    SAVE_EVERY_R,
    SAVE_NOTHING,
    ForwardRun,
    Kernels,
    gradient_bits,
    steps_and_neurons,
)
from ..fused.launch import launch
from ..fused.source import KernelSpec
from . import speculation
from .source import chunked_source


def flag_overflow(non_finite: Tensor | None, h: Tensor, final: Tensor) -> None:
    """Or bit 2 into ``non_finite`` (if given) where a charged potential or the final state ``[2, N]``
    is not finite (the state overflowed; a trace once inf stays inf), without waiting for the device."""
    if non_finite is not None:
        bad = ~(torch.isfinite(h).all() & torch.isfinite(final).all())
        non_finite.bitwise_or_(bad.to(non_finite.dtype) * 2)


def launch_chunked_forward(
    spec: KernelSpec, x: Tensor, constants: Tensor, v0: Tensor | None, r0: Tensor | None, v_reset: float, save: int,
    non_finite: Tensor | None,
) -> ForwardRun:  # fmt: skip
    """As ``fused.autograd._launch_forward``, by speculation over chunks of ``speculation.CHUNK_STEPS``,
    its ``REPAIR_PASSES`` repairs and the finish (both read at the call). ``h`` and ``r`` ``[T, ...]``
    are written and kept for the backward when it follows (``save``), for the record, or for the
    overflow check (``non_finite``); a plain forward writes only the spikes and the chunks' states."""
    chunk, passes = speculation.CHUNK_STEPS, speculation.REPAIR_PASSES
    steps, n = steps_and_neurons(x)
    chunks = math.ceil(steps / chunk)
    acc = constants.dtype
    spikes = torch.empty_like(x, memory_format=torch.contiguous_format)
    # h and r for the backward, the record or the overflow check; else not written at all
    wanted = save != SAVE_NOTHING or non_finite is not None
    h, r_seq = torch.empty((2, *x.shape), dtype=acc, device=x.device) if wanted else (None, None)
    starts_and_ends = torch.empty((6, chunks, n), dtype=acc, device=x.device).unbind()
    starts, ends = list(starts_and_ends[:2]), list(starts_and_ends[2:])
    final = torch.empty((2, *x.shape[1:]), dtype=acc, device=x.device)
    every_r = int(save == SAVE_EVERY_R)
    neuron = [x, spikes, h, r_seq, constants]
    threads = chunks * n
    shape = [steps, n, chunk]
    first_wrong = torch.empty((n,), dtype=torch.int32, device=x.device)
    launch(spec, "chunk_speculate", threads, x.device,
           [*neuron, v0, r0, *starts, *ends[:2], first_wrong, *shape, v_reset, every_r, non_finite],
           chunked_source)  # fmt: skip
    for done in range(1, passes + 1):  # the last pass also finds each neuron's first wrong chunk
        launch(spec, "chunk_repair", threads, x.device,
               [*neuron, r0, *starts, *ends, *shape, v_reset, every_r, first_wrong if done == passes else None],
               chunked_source)  # fmt: skip
        ends = ends[2:] + ends[:2]
    if passes == 0:
        launch(spec, "chunk_first_wrong", threads, x.device, [*starts, *ends[:2], first_wrong, *shape],
               chunked_source)  # fmt: skip
    launch(spec, "chunk_finish", n, x.device,
           [*neuron, r0, *starts, *ends[:2], first_wrong, final, *shape, v_reset, every_r],
           chunked_source)  # fmt: skip
    flag_overflow(non_finite, h, final)
    return ForwardRun(spikes, h, r_seq, (h, r_seq) if save != SAVE_NOTHING else None, final)


def launch_chunked_backward(
    spec: KernelSpec, saved: tuple[Tensor | None, ...], given: dict[str, Tensor], want_x: bool, want_params: bool,
    x_dtype: torch.dtype, v_reset: float,
) -> tuple[Tensor | None, Tensor | None]:  # fmt: skip
    """As ``fused.autograd._launch_backward``, by chunks of ``speculation.CHUNK_STEPS``: carry maps,
    carries, rerun."""
    chunk = speculation.CHUNK_STEPS
    h, r_seq, constants, v0, r0 = saved
    steps, n = steps_and_neurons(h)
    chunks = math.ceil(steps / chunk)
    g_x = torch.empty_like(h, dtype=x_dtype, memory_format=torch.contiguous_format) if want_x else None
    bits = gradient_bits(given, want_x)
    transfer = torch.empty((6, chunks, n), dtype=h.dtype, device=h.device)
    carries = torch.empty((2, chunks, n), dtype=h.dtype, device=h.device)
    partial_grads = torch.empty((4, chunks, n), dtype=h.dtype, device=h.device) if want_params else None
    g_params = torch.empty((6, n), dtype=h.dtype, device=h.device) if want_params else None
    incoming = [given.get(name) for name in GRADIENT_NAMES[:3]]
    common = [*incoming, h, r_seq, constants, r0]
    shape = [steps, n, chunk]
    launch(spec, "chunk_backward_transfer", chunks * n, h.device, [*common, transfer, *shape, v_reset, bits],
           chunked_source)  # fmt: skip
    launch(spec, "chunk_backward_carries", n, h.device, [given.get("g_final"), transfer, carries, *shape, bits],
           chunked_source)  # fmt: skip
    launch(spec, "chunk_backward_apply", chunks * n, h.device,
           [*common, v0, carries, g_x, partial_grads, g_params, *shape, v_reset, bits], chunked_source)  # fmt: skip
    if want_params:
        g_params[:4] = partial_grads.sum(dim=1)
    return g_x, g_params


CHUNKED_KERNELS = Kernels("chunked", launch_chunked_forward, launch_chunked_backward)
