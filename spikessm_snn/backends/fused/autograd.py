"""The fused kernels as a multi-step backend with autograd.

Without gradients or recording, the forward reads ``x`` and writes the spikes, nothing else.
For training it also writes the state ``(v, r)`` before every ``KernelSpec.segment``-th step (in
the accumulator type: float32; float64 for float64 input) and keeps ``x``; the backward kernel
recomputes each segment's charged potentials and traces from them (the same bits) and returns the
gradients to the input, to every neuron constant and to the initial state. Peak memory of a
training step: the spikes, ``dL/dx`` and the checkpoints (``2 T / segment`` values a neuron) beside
the input and its gradient. float16/bfloat16 in and out with float32 arithmetic and float32
constants (the neuron hands them over unrounded, ``registry.constants_dtype``): spikes equal the
float32 reference on the upcast input.

Nothing here waits for the device: with ``check_finite=False`` a call only queues kernels (and
can be captured in a CUDA graph); with the check, the flag the forward kernel sets on NaN/inf in
the input or on a state beyond the input dtype's range is read back once a call, one host
synchronisation. The backward has no graph of its own: no second derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ...neurons.checks import raise_no_double_backward, raise_non_finite, raise_overflow
from ...neurons.dynamics import NeuronParameters, NeuronState, reset_potential
from ...neurons.parameters import as_dtype
from ...neurons.surrogate import SpikeFunction, Surrogate
from ..result import MultiStepResult
from .constants import stacked_constants
from .launch import cupy_missing, launch
from .source import GRADIENT_BITS, KernelSpec, kernel_spec

SAVE_NOTHING, SAVE_FOR_BACKWARD, SAVE_EVERY_R = 0, 1, 2  # the forward kernel's ``save``
GRADIENT_NAMES = ("g_spikes", "g_h", "g_r", "g_final")  # the backward's incoming gradients


def gradient_bits(given: dict[str, Tensor], want_x: bool) -> int:
    """The backward kernels' ``grads``: a bit for each incoming gradient given, and one for ``dL/dx``."""
    return sum(GRADIENT_BITS[name] for name in given) + (GRADIENT_BITS["g_x"] if want_x else 0)


def backward_follows(*tensors: Tensor) -> bool:
    """Whether autograd will run a backward through a call on ``tensors`` (input, state, constants):
    gradients are enabled and one of them requires them."""
    return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def steps_and_neurons(x: Tensor) -> tuple[int, int]:
    """``T`` and ``N`` of ``x [T, ...]``, which the kernels read as ``[T, N]`` (row-major)."""
    steps = x.shape[0]
    return steps, x.numel() // steps


class ForwardRun(NamedTuple):
    """What a ``Kernels.forward`` of ``x [T, ...]`` gives: spikes ``[T, ...]``; ``h`` and ``r``
    ``[T, ...]`` when recorded (else ``None``); ``kept``, the two tensors its backward reads (``None``
    without ``save``); the final state ``[2, ...]`` (``v``, ``r``: one step's shape each; in the input's
    dtype, or the kernels' accumulator type)."""

    spikes: Tensor
    h: Tensor | None
    r: Tensor | None
    kept: tuple[Tensor, Tensor] | None
    final: Tensor


def _launch_forward(
    spec: KernelSpec, x: Tensor, constants: Tensor, v0: Tensor | None, r0: Tensor | None, v_reset: float, save: int,
    non_finite: Tensor | None,
) -> ForwardRun:  # fmt: skip
    """The run of ``x [T, ...]`` (contiguous: ``[T, N]`` to the kernel) with ``constants [4, N]``
    from ``v0``, ``r0 [N]`` (``None``: the zero state); outputs in ``x``'s shape, so that no view
    stands between them and autograd. Kept for the backward: ``x`` and the checkpoints ``[S, 2, N]``
    (``v`` and ``r`` before steps ``0, K, 2K, ...``, ``K = spec.segment``: a segment's two rows side by
    side, staged as one); ``non_finite [1]`` (if given) gets bit 1 where the input held NaN or inf and
    bit 2 where the state passed the input dtype's largest value."""
    steps, n = steps_and_neurons(x)
    acc = constants.dtype
    spikes = torch.empty_like(x)  # in x's layout: [T, ...] contiguous, or time-last (spec.time_last)
    final = torch.empty((2, *x.shape[1:]), dtype=x.dtype, device=x.device)  # rounded by the kernel: no copy after
    h, r_seq = torch.empty((2, *x.shape), dtype=acc, device=x.device) if save == SAVE_EVERY_R else (None, None)
    checkpoints = None if save == SAVE_NOTHING else torch.empty((-(-steps // spec.segment), 2, n), dtype=acc,
                                                                 device=x.device)  # fmt: skip
    launch(spec, "neuron_forward", n, x.device,
           [x, spikes, h, r_seq, checkpoints, constants, v0, r0, final, steps, n, v_reset, save,
            non_finite])  # fmt: skip
    return ForwardRun(spikes, h, r_seq, None if checkpoints is None else (x, checkpoints), final)


def _launch_backward(
    spec: KernelSpec, saved: tuple[Tensor | None, ...], given: dict[str, Tensor], want_x: bool, want_params: bool,
    x_dtype: torch.dtype, v_reset: float,
) -> tuple[Tensor | None, Tensor | None]:  # fmt: skip
    """``dL/dx`` in ``x``'s shape (if ``want_x``) and ``dL/d(tau, threshold, tau_r, refractory, v0, r0)
    [6, N]`` (if ``want_params``) from ``saved = (x, checkpoints, constants, v0, r0)`` (``v0``, ``r0``
    ``None`` for the zero state) and the gradients ``given`` (by ``GRADIENT_NAMES``, contiguous; a
    missing one is zero)."""
    x, checkpoints, constants, v0, r0 = saved
    steps, n = steps_and_neurons(x)
    g_x = torch.empty_like(x, dtype=x_dtype) if want_x else None  # in x's layout
    g_params = torch.empty((6, n), dtype=constants.dtype, device=x.device) if want_params else None
    launch(spec, "neuron_backward", n, x.device, [
        *(given.get(name) for name in GRADIENT_NAMES), x, checkpoints, constants, v0, r0, g_x, g_params, steps, n,
        v_reset, gradient_bits(given, want_x),
    ], shared_bytes=spec.backward_ring_bytes)  # fmt: skip
    return g_x, g_params


@dataclass(frozen=True)
class Kernels:
    """A forward (as ``_launch_forward``: a ``ForwardRun``; ``v0``, ``r0`` ``None`` for the zero state)
    and a backward over what it kept (as ``_launch_backward``: ``saved = (*kept, constants, v0, r0)``),
    the backend name errors show, and whether they read time-last sequences as they are."""

    backend: str
    forward: Callable[..., ForwardRun]
    backward: Callable[..., tuple[Tensor | None, Tensor | None]]
    time_last: bool = False


SEQUENTIAL = Kernels("cupy", _launch_forward, _launch_backward, time_last=True)


def is_time_last(x_seq: Tensor) -> bool:
    """Whether ``x_seq [T, ...]`` is laid out time-last: a view (``x.permute(-1, 0, ...)``) of a
    contiguous ``[..., T]``, each neuron's steps side by side (as an SSM's ``[B, H, L]``)."""
    return (
        x_seq.dim() >= 2 and x_seq.shape[0] > 1 and not x_seq.is_contiguous() and x_seq.movedim(0, -1).is_contiguous()
    )


def in_layout(t: Tensor, time_last: bool) -> Tensor:
    """``t [T, ...]`` contiguous, or (``time_last``) laid out time-last; no copy where it already is."""
    return t.movedim(0, -1).contiguous().movedim(-1, 0) if time_last else t.contiguous()


class _FusedFunction(torch.autograd.Function):
    """``x [T, ...]`` (contiguous), constants ``[4, N]`` (acc: tau, threshold, tau_r, refractory),
    ``v0, r0 [N]`` (``None``: the zero state) -> spikes ``[T, ...]``, ``h`` and ``r`` ``[T, ...]``
    (recorded, or what the kernels keep; else ``None``) and the final state ``[2, ...]`` by
    ``kernels`` (the sequential ones, or another forward and backward: ``Kernels``); ``non_finite
    [1]`` (if given) receives the forward's flag.

    Gradients are not materialised: an output nobody used passes ``None`` to the backward, whose
    kernel skips it (no ``[T, N]`` zeros), and ``dL/dx`` and the constants' and state's gradients
    are computed only when wanted. The backward is not itself differentiable: ``create_graph=True``
    raises."""

    @staticmethod
    def forward(ctx: Any, x, constants, v0, r0, spec, v_reset, save, non_finite, kernels):
        ctx.set_materialize_grads(False)
        run = kernels.forward(spec, x, constants, v0, r0, v_reset, save, non_finite)
        ctx.save_for_backward(*run.kept, constants, v0, r0)
        ctx.spec, ctx.v_reset, ctx.x_dtype, ctx.kernels = spec, v_reset, x.dtype, kernels
        return run.spikes, run.h, run.r, run.final

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None):
        if torch.is_grad_enabled():
            raise_no_double_backward(ctx.kernels.backend)
        given = {name: in_layout(g, ctx.spec.time_last and name == "g_spikes")
                 for name, g in zip(GRADIENT_NAMES, grads, strict=True) if g is not None}  # fmt: skip
        want_x, want_constants, want_v0, want_r0 = ctx.needs_input_grad[:4]
        want_params = want_constants or want_v0 or want_r0
        g_x, g_params = ctx.kernels.backward(
            ctx.spec, ctx.saved_tensors, given, want_x, want_params, ctx.x_dtype, ctx.v_reset
        )
        return (g_x, g_params[:4] if want_constants else None, g_params[4] if want_v0 else None,
                g_params[5] if want_r0 else None, None, None, None, None, None)  # fmt: skip


def _state_of(final: Tensor, dtype: torch.dtype) -> NeuronState:
    """The final state ``[2, ...]`` as ``(v, r)`` in ``dtype``."""
    final = as_dtype(final, dtype)
    return NeuronState(final[0], final[1])


def _raise_for(non_finite: Tensor | None, dtype: torch.dtype) -> None:
    """With the check (``non_finite`` given), read the forward kernel's flag back, the call's one
    host synchronisation: raise for NaN/inf in the input, else for a state that overflowed ``dtype``."""
    if non_finite is None:
        return
    flag = int(non_finite.item())
    if flag & 1:
        raise_non_finite()
    if flag & 2:
        raise_overflow(dtype)


def run_fused(
    x_seq: Tensor,
    state: NeuronState | None,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = True,
    kernels: Kernels = SEQUENTIAL,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` (any layout: read as it is where contiguous, or time-last for kernels that
    read it and float32/float64 input without ``record``; else copied contiguous) on a CUDA device, from ``state``
    (``None``: the zero state, read as zeros by the kernels, none made); NaN/inf in the input and a
    state beyond the input dtype's range are found by the forward kernel as it runs, and raise when
    ``check_finite``. Other ``kernels`` over the same saved tensors (``'chunked'``) share this wrapper."""
    step_shape = x_seq.shape[1:]
    acc = torch.float64 if x_seq.dtype == torch.float64 else torch.float32
    time_last = kernels.time_last and not record and x_seq.element_size() >= 4 and is_time_last(x_seq)
    x = x_seq if time_last else x_seq.contiguous()
    constants = stacked_constants((p.tau, p.threshold, p.tau_r, p.refractory), step_shape, acc, p.kept)
    v0, r0 = (None, None) if state is None else (s.to(acc).reshape(-1).contiguous() for s in state)
    spec = kernel_spec(str(x.dtype).removeprefix("torch."), spike_fn, p.hard_reset, detach_reset, time_last)
    non_finite = torch.zeros(1, dtype=torch.int32, device=x.device) if check_finite else None
    if not record and not backward_follows(x_seq, constants, v0, r0):
        run = kernels.forward(spec, x, constants, v0, r0, p.v_reset, SAVE_NOTHING, non_finite)
        _raise_for(non_finite, x.dtype)
        return MultiStepResult(run.spikes, _state_of(run.final, x.dtype))
    save = SAVE_EVERY_R if record else SAVE_FOR_BACKWARD
    spikes, h, r_seq, final = _FusedFunction.apply(x, constants, v0, r0, spec, p.v_reset, save, non_finite, kernels)
    _raise_for(non_finite, x.dtype)
    if not record:
        return MultiStepResult(spikes, _state_of(final, x.dtype))
    s = spikes.to(acc)
    per_neuron_p = NeuronParameters(*constants.view(4, *step_shape), hard_reset=p.hard_reset, v_reset=p.v_reset)
    v_seq = reset_potential(h, s.detach() if detach_reset else s, per_neuron_p)
    return MultiStepResult(spikes, _state_of(final, x.dtype), as_dtype(v_seq, x.dtype), as_dtype(r_seq, x.dtype))


def fused_unsupported(x_seq: Tensor, p: NeuronParameters, spike_fn: SpikeFunction) -> str | None:
    if x_seq.device.type != "cuda":
        return f"the input is on {x_seq.device}; the fused kernels need a CUDA tensor"
    if not isinstance(spike_fn, Surrogate):
        return "the kernel's backward needs the surrogate's derivative: give a surrogate by name or a Surrogate"
    return cupy_missing()
