"""The fused kernels as a multi-step backend with autograd.

Without gradients or recording, the forward reads ``x`` and writes the spikes, nothing else.
For training it also saves the charged potentials ``h`` (and ``r``), in the accumulator type
(float32; float64 for float64 input), and the backward kernel returns the gradients to the
input, to every neuron constant and to the initial state. float16/bfloat16 in and out with
float32 arithmetic: spikes equal the float32 reference on the same (upcast) input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...neurons.checks import raise_no_double_backward, raise_non_finite, raise_overflow
from ...neurons.dynamics import NeuronParameters, NeuronState, reset_potential
from ...neurons.surrogate import SpikeFunction, Surrogate
from ..result import MultiStepResult
from .launch import cupy_missing, launch
from .source import KernelSpec


def _launch_forward(
    spec: KernelSpec, x: Tensor, constants: list[Tensor], v: Tensor, r: Tensor, v_reset: float, save: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Spikes ``[T, N]``, saved ``h`` and ``r`` (``[T, N]`` when ``save``, else empty), and a flag:
    bit 0 where the input held NaN or inf, bit 1 where the state left the input dtype's range;
    ``v``, ``r`` ``[N]`` advance in place."""
    steps, n = x.shape
    spikes = torch.empty_like(x)
    h = torch.empty((steps, n) if save else (0,), dtype=v.dtype, device=x.device)
    r_seq = torch.empty((steps, n) if save and spec.refractory else (0,), dtype=v.dtype, device=x.device)
    non_finite = torch.zeros(1, dtype=torch.int32, device=x.device)
    launch(spec, "neuron_forward", n, x.device,
           [x, spikes, h, r_seq, *constants, v, r, steps, n, v_reset, np.int32(save), non_finite])  # fmt: skip
    return spikes, h, r_seq, non_finite


class _FusedFunction(torch.autograd.Function):
    """``x [T, N]``, constants ``[N]`` (acc), ``v0, r0 [N]`` -> spikes, h, r ``[T, N]`` and the
    final ``v``, ``r`` ``[N]``; ``non_finite [1]`` receives the forward's flag."""

    @staticmethod
    def forward(ctx: Any, x, tau, threshold, tau_r, refractory, v0, r0, spec, v_reset, non_finite):
        constants = [tau, threshold, tau_r, refractory]
        v, r = v0.clone(), r0.clone()
        spikes, h, r_seq, flag = _launch_forward(spec, x, constants, v, r, v_reset, save=True)
        non_finite.copy_(flag)
        ctx.save_for_backward(h, r_seq, *constants, v0, r0)
        ctx.spec, ctx.v_reset = spec, v_reset
        return spikes, h, r_seq, v, r

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor, g_h: Tensor | None, g_r: Tensor | None, g_v: Tensor | None,
                 g_r_last: Tensor | None):  # fmt: skip
        if torch.is_grad_enabled():
            raise_no_double_backward("cupy")
        h, r_seq, tau, threshold, tau_r, refractory, v0, r0 = ctx.saved_tensors
        steps, n = h.shape
        has_g_h, has_g_r = g_h is not None, g_r is not None and g_r.numel() > 0
        g_v, g_r_last = (torch.zeros_like(r0) if g is None else g.contiguous() for g in (g_v, g_r_last))
        g_x = torch.empty_like(g_spikes)
        g_params = torch.empty((6, n), dtype=h.dtype, device=h.device)
        launch(ctx.spec, "neuron_backward", n, h.device, [
            g_spikes.contiguous(), g_h.contiguous() if has_g_h else h, g_r.contiguous() if has_g_r else h,
            h, r_seq if ctx.spec.refractory else h, tau, threshold, tau_r, refractory, r0, g_v, g_r_last,
            g_x, g_params, steps, n, ctx.v_reset, np.int32(has_g_h), np.int32(has_g_r),
        ])  # fmt: skip
        g_params[0] += g_params[4] / tau * v0  # dh[0]/dtau = v0: dL/dv0 = tau dL/dh[0]
        return (g_x, *g_params, None, None, None)


def _raise_for(flag: int, dtype: torch.dtype) -> None:
    if flag & 1:
        raise_non_finite()
    if flag & 2:
        raise_overflow(dtype)


def run_fused(
    x_seq: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = True,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` (any layout; copied if not contiguous) on a CUDA device; NaN/inf in
    the input and a state beyond the input dtype's range are found by the forward kernel as it
    runs, and raise when ``check_finite``."""
    steps, step_shape = x_seq.shape[0], x_seq.shape[1:]
    acc = torch.float64 if x_seq.dtype == torch.float64 else torch.float32
    x = x_seq.reshape(steps, -1).contiguous()

    def per_neuron(value: Tensor) -> Tensor:
        return value.to(acc).expand(step_shape).reshape(-1).contiguous()

    constants = [per_neuron(value) for value in (p.tau, p.threshold, p.tau_r, p.refractory)]
    v0, r0 = (s.to(acc).reshape(-1).contiguous() for s in state)
    # r stays 0 (its loads and stores are skipped) for ResetLIF, or SRR with v_th = 0 fixed
    refractory = p.refractory.requires_grad or bool((constants[3] != 0).any() or (r0 != 0).any())
    spec = KernelSpec(str(x.dtype).removeprefix("torch."), spike_fn, p.hard_reset, refractory, detach_reset)
    inputs = (x_seq, p.tau, p.threshold, p.tau_r, p.refractory, state.v, state.r)
    if not record and not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs)):
        v, r = v0.clone(), r0.clone()
        spikes, _, _, non_finite = _launch_forward(spec, x, constants, v, r, p.v_reset, save=False)
        if check_finite:
            _raise_for(non_finite.item(), x.dtype)
        final = NeuronState(v.reshape(step_shape).to(x.dtype), r.reshape(step_shape).to(x.dtype))
        return MultiStepResult(spikes.reshape(x_seq.shape), final)
    non_finite = torch.zeros(1, dtype=torch.int32, device=x.device)
    spikes, h, r_seq, v_last, r_last = _FusedFunction.apply(x, *constants, v0, r0, spec, p.v_reset, non_finite)
    if check_finite:
        _raise_for(non_finite.item(), x.dtype)

    def shaped(t: Tensor) -> Tensor:
        return t.reshape(*t.shape[:-1], *step_shape).to(x_seq.dtype)

    final = NeuronState(shaped(v_last), shaped(r_last))
    if not record:
        return MultiStepResult(shaped(spikes), final)
    s = spikes.to(acc)
    per_neuron_p = NeuronParameters(*constants, hard_reset=p.hard_reset, v_reset=p.v_reset)
    v_seq = reset_potential(h, s.detach() if detach_reset else s, per_neuron_p)
    r_seq = r_seq if refractory else torch.zeros_like(h)
    return MultiStepResult(shaped(spikes), final, shaped(v_seq), shaped(r_seq))


def fused_unsupported(x_seq: Tensor, p: NeuronParameters, spike_fn: SpikeFunction) -> str | None:
    if x_seq.device.type != "cuda":
        return f"the input is on {x_seq.device}; the fused kernels need a CUDA tensor"
    if not isinstance(spike_fn, Surrogate):
        return "the kernel's backward needs the surrogate's derivative: give a surrogate by name or a Surrogate"
    return cupy_missing()
