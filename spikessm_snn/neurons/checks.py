"""Clear errors for bad input (shapes, dtypes, NaN/inf, parameters, states) and for a state that overflowed."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from .dynamics import NeuronParameters, NeuronState

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_input(x: Tensor, multi_step: bool) -> None:
    """``x`` is ``[T, B, ...]`` (multi-step) or ``[B, ...]`` (single step), floating, not empty
    (NaN/inf: ``check_finite_values`` / ``check_finite_run``)."""
    name, layout, rank = ("x_seq", "[T, B, ...]", 2) if multi_step else ("x", "[B, ...]", 1)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating tensor (float16/bfloat16/float32/float64), got {x.dtype}")
    if x.dim() < rank:
        raise ValueError(f"{name} must be {layout} (at least {rank} dims), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")


def check_finite_values(x: Tensor, name: str = "x_seq") -> None:
    """Raise if ``x`` holds NaN or inf: one reduction pass (min and max propagate both)."""
    low, high = torch.aminmax(x)
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise_non_finite(name)


def check_finite_run(x: Tensor, states: Iterable[Tensor], name: str = "x_seq") -> None:
    """Raise if the input ``x`` holds NaN or inf, else if one of the ``states`` it led to does
    (the state overflowed): one reduction pass each, one host sync for both.

    Enough for the loop's arithmetic: once ``v`` or ``r`` is inf or NaN it stays inf or NaN
    (``tau > 0``; a hard reset of inf gives NaN), so a finite final state means finite states
    throughout; a backend whose arithmetic can recover passes every step's state."""
    low, high = torch.aminmax(x)
    flags = [~(torch.isfinite(low) & torch.isfinite(high))]
    flags += [~torch.isfinite(state).all() for state in states]
    x_bad, *state_bad = torch.stack(flags).tolist()
    if x_bad:
        raise_non_finite(name)
    if any(state_bad):
        raise_overflow(x.dtype)


def raise_non_finite(name: str = "x_seq") -> None:
    raise ValueError(f"{name} holds NaN or inf (pass check_finite=False to skip this check)")


def raise_overflow(dtype: torch.dtype) -> None:
    limit = torch.finfo(dtype).max
    raise ValueError(
        f"the neuron state overflowed {str(dtype).removeprefix('torch.')} (beyond {limit:.4g}) on finite input; "
        "scale the input down or compute in a wider dtype (pass check_finite=False to skip this check)"
    )


def broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    """``shape`` broadcasts to exactly ``target`` (numpy's rule: aligned from the right, each size 1
    or equal, no more dims than ``target``)."""
    pairs = zip(reversed(shape), reversed(target), strict=False)
    return len(shape) <= len(target) and all(a in (1, b) for a, b in pairs)


def check_parameters(p: NeuronParameters, step_shape: torch.Size, device: torch.device) -> None:
    """Every parameter broadcasts to one step ``[B, ...]`` and lives on the input's device."""
    for name in ("tau", "threshold", "tau_r", "refractory"):
        value: Tensor = getattr(p, name)
        if value.device != device:
            raise ValueError(f"parameter {name} is on {value.device} but the input is on {device}; move the module")
        if not broadcasts_to(value.shape, step_shape):
            raise ValueError(
                f"parameter {name} of shape {tuple(value.shape)} does not broadcast to one step's shape "
                f"{tuple(step_shape)}; per-channel parameters of shape (D,) need inputs [T, B, ..., D]"
            )


def check_state(state: NeuronState, step_shape: torch.Size, x: Tensor) -> None:
    """A carried state matches the step shape, device and dtype of the input."""
    for name, value in zip(("v", "r"), state, strict=True):
        if value.shape != step_shape:
            raise ValueError(
                f"state {name} has shape {tuple(value.shape)} but one input step is {tuple(step_shape)}; "
                "reset the neuron when the batch or feature shape changes"
            )
        if value.device != x.device or value.dtype != x.dtype:
            raise ValueError(f"state {name} is {value.dtype} on {value.device}, input is {x.dtype} on {x.device}")


def raise_no_double_backward(backend: str) -> None:
    """For a backend whose backward is not differentiable, called under ``create_graph=True``."""
    raise RuntimeError(
        f"backend {backend!r} computes its gradient without a graph, so it has no second derivative "
        "(backward with create_graph=True); use backend 'torch' for higher-order gradients"
    )
