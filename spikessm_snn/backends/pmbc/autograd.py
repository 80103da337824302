"""PMBC as an autograd function: spikes by compression, the reference's BPTT gradient by scans.

Forward, per group of neurons (at most ``GROUP_ELEMENTS`` steps x neurons at a time, so memory
stays bounded at any ``T``): the rounding band, ``compress``, the potentials from the spikes
(two decay scans), and an exact loop for the neurons ``compress`` could not settle.

Backward: the reference's BPTT given the spikes is a linear recurrence backwards in time in
``(dL/dv, dL/dr)`` with per-step 2x2 coefficients (the surrogate derivative at each step),
computed by ``scan.reverse_affine_scan``: the same gradient as the loop's, summed in another
order (float32 at least; float64 for float64 input).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from ...neurons.dynamics import NeuronParameters, NeuronState, previous
from ...neurons.surrogate import Surrogate
from ..fused import cupy_missing, run_fused
from ..reference import run_reference
from ..result import MultiStepResult
from ..scan import reverse_affine_scan
from .compression import PerNeuron, compress, margins, rounding_guard, trajectory

GROUP_ELEMENTS = 2**27


def exact_sequential(x: Tensor) -> Callable[..., MultiStepResult]:
    """The fastest loop that is bit-exact with the reference here: the fused kernel on a CUDA
    float32/float64 input where CuPy is installed, else the reference itself."""
    fused_ok = x.is_cuda and x.dtype in (torch.float32, torch.float64) and cupy_missing() is None
    return run_fused if fused_ok else run_reference


def _neuron_groups(steps: int, neurons: int) -> Iterator[slice]:
    size = max(1, GROUP_ELEMENTS // max(steps, 1))
    for start in range(0, neurons, size):
        yield slice(start, min(start + size, neurons))


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _forward_group(x: Tensor, n: PerNeuron, v0: Tensor, r0: Tensor, surrogate: Surrogate):
    """Spikes, v, r, margins ``[T, n]`` (float64) of one group, and what the work was."""
    wide = torch.float64
    x64, v0_64, r0_64 = x.to(wide), v0.to(wide), r0.to(wide)
    spikes, settle, stats = compress(x64, n, v0_64, r0_64, rounding_guard(x64, n, v0_64, r0_64, x.dtype))
    spikes = spikes.to(wide)
    _, v, r = trajectory(x64, spikes, n, v0_64, r0_64)
    index = settle.nonzero().squeeze(1)
    if index.numel():  # the exact loop, in the input dtype
        params = NeuronParameters(*(value[index].to(x.dtype) for value in n), hard_reset=False, v_reset=0.0)
        exact = exact_sequential(x)(x[:, index], NeuronState(v0[index], r0[index]), params, surrogate, record=True)
        spikes[:, index], v[:, index], r[:, index] = (t.to(wide) for t in (exact.spikes, exact.v_seq, exact.r_seq))
    return spikes, v, r, margins(x64, v, r, n, v0_64, r0_64), {**stats, "settled": int(index.numel())}


def _backward_group(saved: list[Tensor], grads: list[Tensor | None], surrogate: Surrogate, detach_reset: bool,
                    work: torch.dtype) -> tuple[Tensor, ...]:  # fmt: skip
    """dL/dx ``[T, n]`` and dL/d(tau, threshold, tau_r, refractory, v0, r0) ``[n]`` of one group."""
    spikes, v, r, margin, v0, r0, tau, threshold, tau_r, refractory = (t.to(work) for t in saved)
    gs, gv, gr = (torch.zeros_like(v) if g is None else g.to(work) for g in grads)
    k = 0.0 if detach_reset else 1.0
    psi = surrogate.derivative(margin).to(work)
    psi_next = torch.cat([psi[1:], torch.zeros_like(psi[:1])])
    gs_next = torch.cat([gs[1:], torch.zeros_like(gs[:1])])
    # (dL/dv[t], dL/dr[t]) = A[t] (dL/dv[t+1], dL/dr[t+1]) + c[t]
    a = (
        tau * (1 - k * threshold * psi_next),
        tau * k * refractory * psi_next,
        k * threshold * psi_next,
        tau_r - k * refractory * psi_next,
    )
    c = (gv + tau * psi_next * gs_next, gr - psi_next * gs_next)
    lam_v, lam_r = reverse_affine_scan(a, c)
    lam_z = psi * (gs + k * (refractory * lam_r - threshold * lam_v))
    lam_h = lam_v + lam_z
    return (
        lam_h,
        (lam_h * previous(v, v0)).sum(0),
        (-lam_z - spikes * lam_v).sum(0),
        (lam_r * previous(r, r0)).sum(0),
        (lam_r * spikes).sum(0),
        tau * lam_h[0],
        tau_r * lam_r[0] - lam_z[0],
    )


class PMBCFunction(torch.autograd.Function):
    """``x [T, N], per-neuron constants [N], v0, r0 [N] -> spikes, v_seq, r_seq [T, N]``."""

    @staticmethod
    def forward(ctx: Any, x, tau, threshold, tau_r, refractory, v0, r0, surrogate, detach_reset, stats):
        work = _work_dtype(x.dtype)
        n = PerNeuron(*(value.to(torch.float64) for value in (tau, threshold, tau_r, refractory)))
        spikes, v, r, margin = (torch.empty(x.shape, dtype=work, device=x.device) for _ in range(4))
        totals = {"iterations": 0, "finish_steps": 0, "settled": 0}
        for group in _neuron_groups(*x.shape):
            outputs = _forward_group(x[:, group], n.take(group), v0[group], r0[group], surrogate)
            for out, value in zip((spikes, v, r, margin), outputs[:4], strict=True):
                out[:, group] = value
            for key, value in outputs[4].items():
                totals[key] = totals[key] + value if key == "settled" else max(totals[key], value)
        stats.update(totals, neurons=x.shape[1])
        ctx.save_for_backward(spikes, v, r, margin, v0, r0, *n)
        ctx.surrogate, ctx.detach_reset, ctx.dtype = surrogate, detach_reset, x.dtype
        return spikes.to(x.dtype), v.to(x.dtype), r.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor, g_v: Tensor, g_r: Tensor):
        saved = ctx.saved_tensors
        work = _work_dtype(ctx.dtype)
        per_group = []
        for group in _neuron_groups(*saved[0].shape):
            grads = [None if g is None else g[:, group] for g in (g_spikes, g_v, g_r)]
            per_group.append(
                _backward_group([t[..., group] for t in saved], grads, ctx.surrogate, ctx.detach_reset, work)
            )
        grads = [torch.cat(parts, dim=-1).to(ctx.dtype) for parts in zip(*per_group, strict=True)]
        return (*grads, None, None, None)
