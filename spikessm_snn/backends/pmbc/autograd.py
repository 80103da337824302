"""PMBC as an autograd function: spikes by compression, the reference's BPTT gradient by scans.

Forward, per group of neurons (``group_elements``: steps x neurons at a time, sized from the
memory available, so memory stays bounded at any ``T``): the rounding band, ``compress``, the
potentials from the spikes (two decay scans), and an exact loop for the neurons ``compress``
could not settle. All of it in float64: a state that would overflow the input's dtype in the
loop's arithmetic (beyond its largest value less the rounding band) is reported, not hidden.

Backward, per group: the reference's BPTT given the spikes, a reverse scan
(``backends.scan_backward``, shared with ``'chunked'``) from the saved spikes, v, r and margins:
the loop's gradient to float32 rounding (float64 for float64 input), summed in another order,
so not bit for bit. It is not itself differentiable: ``create_graph=True`` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from ...neurons.checks import raise_no_double_backward, raise_overflow
from ...neurons.dynamics import NeuronParameters, NeuronState, previous
from ...neurons.surrogate import Surrogate
from ..fused import cupy_missing, run_fused
from ..reference import run_reference
from ..result import MultiStepResult
from ..scan_backward import ForwardRecord, bptt_by_scan
from .compression import PerNeuron, compress, margins, rounding_guard, trajectory

GROUP_ELEMENTS = 2**27  # the most steps x neurons in one group
BYTES_PER_ELEMENT = 200  # peak memory per step and neuron, forward + backward (measured 160-200, CPU, float32 input)
MEMORY_SHARE = 0.5  # of the memory available when the call starts


def _available_bytes(device: torch.device) -> int | None:
    """Memory free for this call: the GPU's free memory plus torch's cached blocks, or the host's
    ``MemAvailable``; ``None`` where it cannot be read."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def group_elements(device: torch.device) -> int:
    """Steps x neurons of one group: ``GROUP_ELEMENTS`` (about 27 GB of work), or less where
    ``MEMORY_SHARE`` of the available memory holds less at ``BYTES_PER_ELEMENT``."""
    available = _available_bytes(device)
    if available is None:
        return GROUP_ELEMENTS
    return max(1, min(GROUP_ELEMENTS, int(available * MEMORY_SHARE) // BYTES_PER_ELEMENT))


def exact_sequential(x: Tensor) -> Callable[..., MultiStepResult]:
    """The fastest loop that is bit-exact with the reference here: the fused kernel on a CUDA
    float32/float64 input where CuPy is installed, else the reference itself."""
    fused_ok = x.is_cuda and x.dtype in (torch.float32, torch.float64) and cupy_missing() is None
    return run_fused if fused_ok else run_reference


def _neuron_groups(steps: int, neurons: int, elements: int) -> Iterator[slice]:
    size = max(1, elements // max(steps, 1))
    for start in range(0, neurons, size):
        yield slice(start, min(start + size, neurons))


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _forward_group(x: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor, surrogate: Surrogate):
    """Spikes, v, r, margins ``[T, n]`` (float64) of one group, whether its state overflows the
    input's dtype (a bool tensor), and what the work was."""
    wide = torch.float64
    x64, v0_64, r0_64 = x.to(wide), v0.to(wide), r0.to(wide)
    guard = rounding_guard(x64, n, v0_64, r0_64, x.dtype)
    spikes, settle, stats = compress(x64, n, v0_64, r0_64, guard)
    spikes = spikes.to(wide)
    _, v, r = trajectory(x64, spikes, n, v0_64, r0_64)
    index = settle.nonzero().squeeze(1)
    if index.numel():  # the exact loop, in the input dtype
        params = NeuronParameters(*(value[index].to(x.dtype) for value in n), hard_reset=False, v_reset=0.0)
        exact = exact_sequential(x)(x[:, index], NeuronState(v0[index], r0[index]), params, surrogate,
                                          record=True, check_finite=False)  # fmt: skip
        spikes[:, index], v[:, index], r[:, index] = (t.to(wide) for t in (exact.spikes, exact.v_seq, exact.r_seq))
    margin = margins(x64, v, r, n, v0_64, r0_64)
    overflow = _overflows(margin + n.threshold + previous(r, r0_64), r, guard, x.dtype)
    return spikes, v, r, margin, overflow, {**stats, "settled": int(index.numel())}


def _overflows(h: Tensor, r: Tensor, guard: Tensor, dtype: torch.dtype) -> Tensor:
    """Whether the loop in ``dtype`` could overflow: a charged potential ``h`` or trace ``r``
    (float64, ``|v| <= |h|`` for soft reset) within ``guard`` of ``dtype``'s largest value, or
    not finite."""
    limit = torch.finfo(dtype).max
    return ~((h.abs() + guard <= limit).all() & (r.abs() + guard <= limit).all())


def _backward_group(saved: list[Tensor], grads: list[Tensor | None], surrogate: Surrogate, detach_reset: bool,
                    work: torch.dtype) -> tuple[Tensor, ...]:  # fmt: skip
    """dL/dx ``[T, n]`` and dL/d(tau, threshold, tau_r, refractory, v0, r0) ``[n]`` of one group,
    by ``bptt_by_scan`` (soft reset) from the saved spikes, v, r and margins."""
    spikes, v, r, margin, v0, r0, *constants = (t.to(work) for t in saved)
    p = NeuronParameters(*constants, hard_reset=False, v_reset=0.0)
    given = {name: g.to(work) for name, g in zip(("g_spikes", "g_v", "g_r"), grads, strict=True) if g is not None}
    g_x, g_params = bptt_by_scan(ForwardRecord(margin, spikes, v, r), p, v0, r0, given, surrogate, detach_reset)
    return g_x, *g_params


class PMBCFunction(torch.autograd.Function):
    """``x [T, N], per-neuron constants [N], v0, r0 [N] -> spikes, v_seq, r_seq [T, N]``."""

    @staticmethod
    def forward(ctx: Any, x, tau, threshold, tau_r, refractory, v0, r0, surrogate, detach_reset, check_finite, stats):
        work = _work_dtype(x.dtype)
        n = PerNeuron(*(value.to(torch.float64) for value in (tau, threshold, tau_r, refractory)))
        spikes, v, r, margin = (torch.empty(x.shape, dtype=work, device=x.device) for _ in range(4))
        totals = {"iterations": 0, "finish_steps": 0, "settled": 0}
        overflow = torch.zeros((), dtype=torch.bool, device=x.device)
        ctx.elements = group_elements(x.device)
        for group in _neuron_groups(*x.shape, ctx.elements):
            outputs = _forward_group(x[:, group], n.take(group), v0[group], r0[group], surrogate)
            for out, value in zip((spikes, v, r, margin), outputs[:4], strict=True):
                out[:, group] = value
            overflow |= outputs[4]
            for key, value in outputs[5].items():
                totals[key] = totals[key] + value if key == "settled" else max(totals[key], value)
        if check_finite and bool(overflow):
            raise_overflow(x.dtype)
        stats.update(totals, neurons=x.shape[1])
        ctx.save_for_backward(spikes, v, r, margin, v0, r0, *n)
        ctx.surrogate, ctx.detach_reset, ctx.dtype = surrogate, detach_reset, x.dtype
        return spikes.to(x.dtype), v.to(x.dtype), r.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor, g_v: Tensor, g_r: Tensor):
        if torch.is_grad_enabled():
            raise_no_double_backward("pmbc")
        saved = ctx.saved_tensors
        work = _work_dtype(ctx.dtype)
        per_group = []
        for group in _neuron_groups(*saved[0].shape, ctx.elements):
            grads = [None if g is None else g[:, group] for g in (g_spikes, g_v, g_r)]
            per_group.append(
                _backward_group([t[..., group] for t in saved], grads, ctx.surrogate, ctx.detach_reset, work)
            )
        grads = [torch.cat(parts, dim=-1).to(ctx.dtype) for parts in zip(*per_group, strict=True)]
        return (*grads, None, None, None, None)
