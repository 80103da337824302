"""Linear recurrences over time computed in parallel (no Python loop over ``T``).

``decay_scan``: ``y[t] = a * y[t-1] + b[t]`` with a constant per-neuron decay ``a`` in
[0, 1], by chunks: inside a chunk of ``L`` steps ``y = a^i * cumsum(a^-j * b_j)`` (``L`` is
chosen so that ``a^-L`` cannot overflow), across chunks the same recurrence on the chunk ends,
recursively. About five elementwise passes over ``b``.

``reverse_affine_scan``: ``y[t] = A[t] @ y[t+1] + c[t]`` for 2-vectors with per-step 2x2
coefficients, by recursive doubling (``log2 T`` passes); the backward of the neurons.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_MAX_EXPONENT = 600.0  # keep a^-i within a chunk below e^600 ~ 1e260 (float64)


def decay_scan(a: Tensor, b: Tensor, y0: Tensor) -> Tensor:
    """``y [T, N]`` with ``y[t] = a * y[t-1] + b[t]``, ``y[-1] = y0``; ``a``, ``y0`` ``[N]``.

    Use float64: the in-chunk rescaling costs a few bits, which float64 can spare. Decays
    below ``e^-600`` are raised to it (a change below ``1e-260 * |y|``).
    """
    return _decay_scan(torch.log(a), b, y0)


def _decay_scan(log_a: Tensor, b: Tensor, y0: Tensor) -> Tensor:
    log_a = log_a.clamp(min=-_MAX_EXPONENT)
    steps = b.shape[0]
    steepest = float(-log_a.min()) if log_a.numel() else 0.0
    chunk = int(min(64, max(2, _MAX_EXPONENT // max(steepest, 1e-12) + 1)))
    n_chunks = math.ceil(steps / chunk)
    padded = torch.nn.functional.pad(b, (0, 0, 0, n_chunks * chunk - steps)) if n_chunks * chunk != steps else b
    blocks = padded.view(n_chunks, chunk, *b.shape[1:])
    i = torch.arange(chunk, dtype=b.dtype, device=b.device).view(chunk, *([1] * (b.dim() - 1)))
    grow, shrink = torch.exp(-i * log_a), torch.exp(i * log_a)  # a^-i, a^i
    local = shrink * torch.cumsum(blocks * grow, dim=1)  # sum_{j<=i} a^(i-j) b_j inside each chunk
    if n_chunks == 1:
        starts = y0.unsqueeze(0)
    else:  # y at each chunk's end obeys the same recurrence with decay a^L
        ends = _decay_scan(log_a * chunk, local[:, -1], y0)
        starts = torch.cat([y0.unsqueeze(0), ends[:-1]])
    y = local + shrink * torch.exp(log_a) * starts.unsqueeze(1)  # + a^(i+1) y[start-1]
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
