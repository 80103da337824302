"""Sequence classifier: encoder, a residual stack of SSM blocks, mean pooling, decoder.

x [B, L, d_input] -> Linear -> [B, H, L] -> n x (x + dropout(block(norm(x)))  prenorm
                                                 or norm(x + dropout(block(x))))  postnorm
                  -> mean over L -> Linear -> logits [B, classes]

With ``pairs=True`` (LRA Retrieval) ``x`` is ``[B, 2, L, d_input]``: both sequences go through the
same stack (two towers, shared weights) and the decoder sees ``[a, b, a * b, a - b]`` of their
pooled features, as in LRA.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..ssm.blocks import SpikingActivation, SSMBlock


class _ChannelNorm(nn.Module):
    """LayerNorm over the channels of ``[B, H, L]``, or BatchNorm1d."""

    def __init__(self, d_model: int, kind: str) -> None:
        super().__init__()
        if kind not in ("layer", "batch"):
            raise ValueError(f"norm must be 'layer' or 'batch', got {kind!r}")
        self.kind = kind
        self.norm = nn.LayerNorm(d_model) if kind == "layer" else nn.BatchNorm1d(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2) if self.kind == "layer" else self.norm(x)


class SequenceClassifier(nn.Module):
    def __init__(
        self,
        d_input: int,
        classes: int,
        block: Callable[[int], SSMBlock],
        d_model: int = 64,
        layers: int = 4,
        norm: str = "layer",
        prenorm: bool = False,
        dropout: float = 0.0,
        pairs: bool = False,
    ) -> None:
        super().__init__()
        if d_input < 1 or classes < 2 or d_model < 1 or layers < 1:
            raise ValueError(f"bad sizes: d_input={d_input}, classes={classes}, d_model={d_model}, layers={layers}")
        self.encoder = nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(block(d_model) for _ in range(layers))
        self.norms = nn.ModuleList(_ChannelNorm(d_model, norm) for _ in range(layers))
        self.dropout, self.prenorm = nn.Dropout(dropout), prenorm
        self.pairs = pairs
        self.decoder = nn.Linear(4 * d_model if pairs else d_model, classes)

    def forward(self, x: Tensor) -> Tensor:
        expected = "[B, 2, L, d_input]" if self.pairs else "[B, L, d_input]"
        if x.dim() != (4 if self.pairs else 3) or (self.pairs and x.shape[1] != 2):
            raise ValueError(f"x must be {expected}, got shape {tuple(x.shape)}")
        if not self.pairs:
            return self.decoder(self._pooled(x))
        a, b = self._pooled(x.flatten(0, 1)).unflatten(0, (x.shape[0], 2)).unbind(1)
        return self.decoder(torch.cat([a, b, a * b, a - b], dim=-1))

    def _pooled(self, x: Tensor) -> Tensor:
        """``[B, L, d_input] -> [B, d_model]``: the stack, then the mean over time."""
        h = self.encoder(x).transpose(1, 2)
        for block, norm in zip(self.blocks, self.norms, strict=True):
            z = block(norm(h) if self.prenorm else h)
            h = h + self.dropout(z)
            if not self.prenorm:
                h = norm(h)
        return h.mean(dim=-1)

    def spike_rates(self) -> list[float | None]:
        """Per layer: the spike rate of its neuron in the last forward (None for non-spiking)."""
        return [b.activation.last_rate if isinstance(b.activation, SpikingActivation) else None for b in self.blocks]
