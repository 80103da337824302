"""Sequence classifier: encoder, a residual stack of SSM blocks, mean pooling, decoder.

x [B, L, d_input] -> Linear -> [B, H, L] -> n x (x + dropout(block(norm(x)))  prenorm
                                                 or norm(x + dropout(block(x))))  postnorm
                  -> mean over L -> Linear -> logits [B, classes]
"""

from __future__ import annotations

from collections.abc import Callable

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
    ) -> None:
        super().__init__()
        if d_input < 1 or classes < 2 or d_model < 1 or layers < 1:
            raise ValueError(f"bad sizes: d_input={d_input}, classes={classes}, d_model={d_model}, layers={layers}")
        self.encoder = nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(block(d_model) for _ in range(layers))
        self.norms = nn.ModuleList(_ChannelNorm(d_model, norm) for _ in range(layers))
        self.dropout, self.prenorm = nn.Dropout(dropout), prenorm
        self.decoder = nn.Linear(d_model, classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"x must be [B, L, d_input], got shape {tuple(x.shape)}")
        h = self.encoder(x).transpose(1, 2)
        for block, norm in zip(self.blocks, self.norms, strict=True):
            z = block(norm(h) if self.prenorm else h)
            h = h + self.dropout(z)
            if not self.prenorm:
                h = norm(h)
        return self.decoder(h.mean(dim=-1))

    def spike_rates(self) -> list[float | None]:
        """Per layer: the spike rate of its neuron in the last forward (None for non-spiking)."""
        return [b.activation.last_rate if isinstance(b.activation, SpikingActivation) else None for b in self.blocks]
