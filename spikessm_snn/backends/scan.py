"""Linear recurrences over time computed in parallel (no Python loop over ``T``).

``linear_scan``: ``y[k] = exp(-rate[k]) * y[k-1] + b[k]`` with a decay exponent ``rate >= 0``
per step (or one per column), by chunks: inside a chunk ``y = e^-L_k * cumsum(e^L_i * b_i)``
with ``L`` the running sum of ``rate`` (chunks short enough that ``e^L`` cannot overflow),
across chunks the same recurrence on the chunk ends, recursively. About five elementwise
passes over ``b``. A constant decay ``a`` per column is ``rate = -log a``; a per-step rate lets
the steps be unevenly spaced in time: PMBC scans the undecided positions only, with
``rate = gap * (-log a)``.

``reverse_affine_scan``: ``y[t] = A[t] @ y[t+1] + c[t]`` for 2-vectors with per-step 2x2
coefficients, by recursive doubling (``log2 T`` passes); the backward of the neurons.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MAX_STEP_EXPONENT = 40.0  # a decay below e^-40 (4e-18) per step is raised to it
_MAX_CHUNK_EXPONENT = 640.0  # e^640 ~ 1e278: the largest rescaling inside a chunk (float64)


def linear_scan(rate: Tensor, b: Tensor, y0: Tensor) -> Tensor:
    """``y [T, N]`` with ``y[k] = exp(-rate[k]) * y[k-1] + b[k]``, ``y[-1] = y0 [N]``.

    ``rate`` is ``[T, N]`` (one per step) or ``[N]`` / ``[1, N]`` (one per column), ``>= 0``
    (``inf`` allowed: no memory). Use float64: the in-chunk rescaling costs a few bits, which
    float64 can spare. Rates above ``MAX_STEP_EXPONENT`` are lowered to it, a change below ``4e-18 * |y[k-1]|``.
    """
    rate = rate.clamp(max=MAX_STEP_EXPONENT)
    if rate.dim() == b.dim() and rate.shape[0] == 1:
        rate = rate[0]
    steps, per_step = b.shape[0], rate.dim() == b.dim()
    steepest = float(rate.max()) if rate.numel() else 0.0
    chunk = int(min(64, max(2, _MAX_CHUNK_EXPONENT // max(steepest, 1e-12))))
    n_chunks = math.ceil(steps / chunk)
    padding = n_chunks * chunk - steps

    def blocks(t: Tensor) -> Tensor:
        return torch.nn.functional.pad(t, (0, 0, 0, padding)).view(n_chunks, chunk, *t.shape[1:])

    if per_step:
        exponent = torch.cumsum(blocks(rate), dim=1)  # L_k: decay from the step before the chunk to k
    else:
        exponent = torch.arange(1, chunk + 1, dtype=b.dtype, device=b.device).unsqueeze(-1) * rate
    local = torch.exp(-exponent) * torch.cumsum(torch.exp(exponent) * blocks(b), dim=1)
    if n_chunks == 1:
        starts = y0.unsqueeze(0)
    else:  # y at each chunk's end obeys the same recurrence with the chunk's total rate
        chunk_rate = exponent[:, -1] if per_step else chunk * rate
        ends = linear_scan(chunk_rate, local[:, -1], y0)
        starts = torch.cat([y0.unsqueeze(0), ends[:-1]])
    y = local + torch.exp(-exponent) * starts.unsqueeze(1)
    return y.reshape(n_chunks * chunk, *b.shape[1:])[:steps]


def reverse_affine_scan(a: tuple[Tensor, Tensor, Tensor, Tensor], c: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """``(y1, y2) [T, N]`` with ``y[t] = [[a11, a12], [a21, a22]][t] @ y[t+1] + c[t]``, ``y[T] = 0``.

    Recursive doubling: after the pass with offset ``k`` each ``y[t]`` holds the sum over
    ``t..t+2k-1`` and each ``A[t]`` the product ``A[t] .. A[t+2k-1]``.
    """
    a11, a12, a21, a22 = (x.clone() for x in a)
    y1, y2 = c[0].clone(), c[1].clone()
    steps, k = y1.shape[0], 1
    while k < steps:
        n = steps - k
        f1, f2 = y1[k:].clone(), y2[k:].clone()
        y1[:n] += a11[:n] * f1 + a12[:n] * f2
        y2[:n] += a21[:n] * f1 + a22[:n] * f2
        if 2 * k < steps:
            b11, b12, b21, b22 = a11[k:].clone(), a12[k:].clone(), a21[k:].clone(), a22[k:].clone()
            p11 = a11[:n] * b11 + a12[:n] * b21
            p12 = a11[:n] * b12 + a12[:n] * b22
            p21 = a21[:n] * b11 + a22[:n] * b21
            p22 = a21[:n] * b12 + a22[:n] * b22
            a11[:n], a12[:n], a21[:n], a22[:n] = p11, p12, p21, p22
        k *= 2
    return y1, y2
