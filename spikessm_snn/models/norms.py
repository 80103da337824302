"""Normalisation over the channels of ``[B, H, L]`` that sees only each sequence's own steps.

- ``layer``: LayerNorm over ``H`` at every step (padding cannot reach a real step).
- ``batch``: BatchNorm whose training statistics are taken over the real steps alone (``mask``
  ``[B, 1, L]``, 1 on real steps) and, under DDP, over every process's batch, as SyncBatchNorm does:
  the sums travel through a differentiable all-reduce, so the gradient is the one of the global
  batch. Evaluation uses the running statistics, as BatchNorm1d.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def _global_sum(t: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(t)
    return t


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over ``x [B, H, L]`` with statistics from the steps where ``mask`` is 1."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if not self.training:
            return super().forward(x)
        weights = torch.ones_like(x[:, :1]) if mask is None else mask.to(x.dtype)
        count = _global_sum(weights.sum().reshape(1))
        mean = _global_sum((x * weights).sum((0, 2))) / count
        centred = x - mean[:, None]
        var = _global_sum((centred.square() * weights).sum((0, 2))) / count
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return centred * scale[:, None] + self.bias[:, None]


class ChannelNorm(nn.Module):
    """``kind='layer'`` (LayerNorm over ``H``), ``'batch'`` (``MaskedBatchNorm``) or ``'none'`` (identity) of
    ``[B, H, L]``. ``'none'`` is the published SpikingSSM code's effective wiring: its post-norm line
    assigns ``z = norm(z)`` and never touches the residual stream (``spikingssm-and-sdn.md``)."""

    KINDS = ("layer", "batch", "none")

    def __init__(self, d_model: int, kind: str) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"norm must be one of {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind
        if kind != "none":
            self.norm = nn.LayerNorm(d_model) if kind == "layer" else MaskedBatchNorm(d_model)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.kind == "none":
            return x
        if self.kind == "layer":
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x, mask)
