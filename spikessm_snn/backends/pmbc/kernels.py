"""Triton kernels for PMBC's hot loops on CUDA, each the fused form of a torch reference.

- ``linear_scan``: ``y[k] = exp(-rate[k]) y[k-1] + b[k]`` down the columns of ``[rows, cols]``,
  ``scan.linear_scan``'s recurrence in one launch: a parallel ``tl.associative_scan`` over
  tiles of rows (``(a1, b1) . (a2, b2) = (a1 a2, b1 a2 + b2)``), carrying each tile's last row
  into the next.
- ``earlier_sums``: ``compression.earlier_sums_reference`` (the bound pass's sums over earlier
  entries, two scans and their combination) in one launch: both exponentials as scans of the
  weights shifted down one row, so no exclusive shift or division is needed.
- ``finish``: ``compression.finish_reference``'s row-by-row pass, one thread a column.

All run in float64. Triton is imported lazily: the package imports without it, and
``triton_missing()`` says why these kernels cannot run (PMBC then uses the torch references).
Called directly under ``TRITON_INTERPRET=1`` they also run on CPU tensors (how the tests check
them without a GPU).
"""

from __future__ import annotations

import functools
import importlib.util

import torch
from torch import Tensor


def triton_missing(x: Tensor) -> str | None:
    """``None`` if PMBC should use the kernels for ``x``, else why not."""
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed"
    if not x.is_cuda:
        return "the Triton kernels run on CUDA tensors"
    return None


@functools.cache
def _source():
    from . import triton_source

    return triton_source


def linear_scan(rate: Tensor, b: Tensor, y0: Tensor) -> Tensor:
    """``scan.linear_scan`` fused: ``rate`` ``[T, N]`` or ``[N]`` / ``[1, N]``, ``b [T, N]``, ``y0 [N]``."""
    rows, cols = b.shape
    rate = rate.to(torch.float64)
    rate = rate.expand(rows, cols) if rate.dim() == 1 or rate.shape[0] == 1 else rate
    b, y0 = b.to(torch.float64), y0.to(torch.float64).contiguous()
    y = torch.empty(rows, cols, dtype=torch.float64, device=b.device)
    if rows and cols:
        block_c = 32
        _source().scan_kernel[(-(-cols // block_c),)](rate, b, y0, y, rows, cols, *rate.stride(), *b.stride(),
                                            BLOCK_R=64, BLOCK_C=block_c)  # fmt: skip
    return y


def _log_decays(tau: Tensor, tau_r: Tensor) -> tuple[Tensor, Tensor]:
    """``log`` of the decays, floored at -1e4 (``exp(-1e4 g) = 0``) so that ``0 * log 0`` is 0, not NaN."""
    return torch.log(tau).clamp(min=-1e4), torch.log(tau_r).clamp(min=-1e4)


def earlier_sums(gap: Tensor, weight: Tensor, tau: Tensor, threshold: Tensor, tau_r: Tensor,
                 refractory: Tensor) -> Tensor:  # fmt: skip
    """``compression.earlier_sums_reference`` fused: ``gap`` ``[rows, cols]`` (or ``[1, 1]``) float64,
    ``weight`` ``[rows, cols]`` bool, the constants ``[cols]`` -> ``[rows, cols]`` float64."""
    rows, cols = weight.shape
    gap = gap.expand(rows, cols)
    weight = weight.view(torch.uint8)
    out = torch.empty(rows, cols, dtype=torch.float64, device=weight.device)
    if rows and cols:
        block_c = 32
        log_tau, log_tau_r = _log_decays(tau, tau_r)
        _source().earlier_sums_kernel[(-(-cols // block_c),)](gap, weight, log_tau, threshold, log_tau_r, refractory,
                                                              out, rows, cols, *gap.stride(), *weight.stride(),
                                                              BLOCK_R=64, BLOCK_C=block_c)  # fmt: skip
    return out


def finish(base: Tensor, gap: Tensor, guard: Tensor, tau: Tensor, threshold: Tensor, tau_r: Tensor,
           refractory: Tensor) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``compression.finish_reference`` fused: fires ``[rows, cols]`` and in-band columns ``[cols]``,
    both bool; ``base``, ``gap``, ``guard`` ``[rows, cols]`` float64, the constants ``[cols]``."""
    rows, cols = base.shape
    base, guard = base.contiguous(), guard.contiguous()
    gap = gap.expand(rows, cols).contiguous()
    fires = torch.empty(rows, cols, dtype=torch.int8, device=base.device)
    in_band = torch.zeros(cols, dtype=torch.int8, device=base.device)
    if rows and cols:
        block_c = 64
        log_tau, log_tau_r = _log_decays(tau, tau_r)
        _source().finish_kernel[(-(-cols // block_c),)](base, gap, guard, log_tau, threshold, log_tau_r, refractory,
                                                        fires, in_band, rows, cols, BLOCK_C=block_c)  # fmt: skip
    return fires.bool(), in_band.bool()
