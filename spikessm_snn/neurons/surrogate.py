"""Surrogate spike functions: Heaviside forward, a smooth derivative backward.

``spike = H(z) = 1 if z >= 0 else 0`` with ``z = membrane - threshold``; backward
``dL/dz = dL/ds * derivative(z)``. Each derivative is written once, over a small math
namespace, so the same definition evaluates on tensors (``TORCH_MATH``) and renders to
CUDA C source for the fused kernels (``CudaMath``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

SpikeFunction = Callable[[Tensor], Tensor]
"""Any callable ``z -> spikes`` with a surrogate gradient (ours, SpikingJelly's, snnTorch's)."""


class _TorchMath:
    abs = staticmethod(torch.abs)
    exp = staticmethod(torch.exp)
    relu = staticmethod(torch.relu)
    sigmoid = staticmethod(torch.sigmoid)

    @staticmethod
    def indicator(condition: Tensor) -> Tensor:
        return condition.float()


TORCH_MATH = _TorchMath()


def _triangle(z: Any, alpha: float, m: Any) -> Any:
    # SpikingSSMs' surrogate: max(0, 1 - |z|) for alpha = 1; alpha is the half-width.
    return m.relu(1.0 - m.abs(z) * (1.0 / alpha)) * (1.0 / alpha)


def _sigmoid(z: Any, alpha: float, m: Any) -> Any:
    # SpikingJelly's Sigmoid: alpha * sg * (1 - sg), sg = sigmoid(alpha * z).
    sg = m.sigmoid(z * alpha)
    return sg * (1.0 - sg) * alpha


def _atan(z: Any, alpha: float, m: Any) -> Any:
    # SpikingJelly's ATan: (alpha / 2) / (1 + (pi / 2 * alpha * z)^2).
    az = z * (math.pi / 2.0 * alpha)
    return (alpha / 2.0) / (1.0 + az * az)


def _rect(z: Any, alpha: float, m: Any) -> Any:
    # SpikingJelly's Rect: alpha where |z| < 0.5 / alpha, else 0.
    return m.indicator(m.abs(z) < 0.5 / alpha) * alpha


_DERIVATIVES: dict[str, tuple[Callable[[Any, float, Any], Any], float]] = {
    "triangle": (_triangle, 1.0),
    "sigmoid": (_sigmoid, 4.0),
    "atan": (_atan, 2.0),
    "rect": (_rect, 1.0),
}


def heaviside(z: Tensor) -> Tensor:
    """The spike ``H(z)``, ``H(0) = 1``: every surrogate's forward, without a graph."""
    return (z >= 0).to(z.dtype)


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(z)
        ctx.surrogate = surrogate
        return heaviside(z)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (z,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(z), None


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate: ``Surrogate('triangle', alpha=1.0)``; call it on ``z`` for spikes."""

    name: str
    alpha: float

    def __post_init__(self) -> None:
        if self.name not in _DERIVATIVES:
            raise ValueError(f"unknown surrogate {self.name!r}; known: {sorted(_DERIVATIVES)}")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"surrogate alpha must be a positive finite number, got {self.alpha}")

    def derivative(self, z: Any, m: Any = TORCH_MATH) -> Any:
        """d spike / d z, evaluated with the math namespace ``m``."""
        return _DERIVATIVES[self.name][0](z, self.alpha, m)

    def __call__(self, z: Tensor) -> Tensor:
        return _Heaviside.apply(z, self)


def surrogate(name: str, alpha: float | None = None) -> Surrogate:
    """A surrogate by name with its default ``alpha`` (triangle 1, sigmoid 4, atan 2, rect 1)."""
    if name not in _DERIVATIVES:
        raise ValueError(f"unknown surrogate {name!r}; known: {sorted(_DERIVATIVES)}")
    return Surrogate(name, _DERIVATIVES[name][1] if alpha is None else float(alpha))


def resolve_spike_function(spec: str | SpikeFunction | None, default: str) -> SpikeFunction:
    """A surrogate from a name, our ``Surrogate``, or any callable ``z -> spikes`` (None: default)."""
    if spec is None:
        return surrogate(default)
    if isinstance(spec, str):
        return surrogate(spec)
    if callable(spec):
        return spec
    raise TypeError(f"surrogate must be a name, a Surrogate or a callable, got {type(spec).__name__}")


SURROGATE_NAMES = tuple(sorted(_DERIVATIVES))
