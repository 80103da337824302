"""Sequence classifier: encoder, a residual stack of SSM blocks, mean pooling over each sequence, decoder.

x [B, L, d_input] -> Linear -> [B, H, L] -> n x (x + dropout(block(norm(x)))  prenorm
                                                 or norm(x + dropout(block(x))))  postnorm
                  -> mean over each sequence's own steps -> Linear -> logits [B, classes]

``lengths [B]`` (optional) gives each sequence's number of real steps; the steps after it are
padding. Padding is zeroed at every block's input, so neither the bidirectional convolution nor
BatchNorm's statistics (``norms.MaskedBatchNorm``) let it reach a real step, and the mean is taken
over the real steps alone (the S4 decoder's ``use_lengths``): the logits do not depend on how much
padding follows a sequence.

With ``pairs=True`` (LRA Retrieval) ``x`` is ``[B, 2, L, d_input]`` (``lengths [B, 2]``): both
sequences go through the same stack (two towers, shared weights) and the decoder sees
``[a, b, a * b, a - b]`` of their pooled features, as in LRA.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..ssm.blocks import SSMBlock
from .norms import ChannelNorm


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
        self.norms = nn.ModuleList(ChannelNorm(d_model, norm) for _ in range(layers))
        self.dropout, self.prenorm = nn.Dropout(dropout), prenorm
        self.pairs = pairs
        self.decoder = nn.Linear(4 * d_model if pairs else d_model, classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        expected = "[B, 2, L, d_input]" if self.pairs else "[B, L, d_input]"
        if x.dim() != (4 if self.pairs else 3) or (self.pairs and x.shape[1] != 2):
            raise ValueError(f"x must be {expected}, got shape {tuple(x.shape)}")
        if lengths is not None and tuple(lengths.shape) != tuple(x.shape[: x.dim() - 2]):
            raise ValueError(f"lengths must be {tuple(x.shape[: x.dim() - 2])} for x {tuple(x.shape)}, "
                             f"got {tuple(lengths.shape)}")  # fmt: skip
        if not self.pairs:
            return self.decoder(self._pooled(x, lengths))
        flat_lengths = None if lengths is None else lengths.flatten()
        a, b = self._pooled(x.flatten(0, 1), flat_lengths).unflatten(0, (x.shape[0], 2)).unbind(1)
        return self.decoder(torch.cat([a, b, a * b, a - b], dim=-1))

    def _pooled(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        """``[B, L, d_input] -> [B, d_model]``: the stack, then the mean over each sequence's steps."""
        h = self.encoder(x).transpose(1, 2)  # [B, H, L]
        mask = None
        if lengths is not None:
            mask = (torch.arange(h.shape[-1], device=h.device) < lengths[:, None]).unsqueeze(1).to(h.dtype)

        def masked(t: Tensor) -> Tensor:
            return t if mask is None else t * mask

        h = masked(h)
        for block, norm in zip(self.blocks, self.norms, strict=True):
            h = h + self.dropout(block(masked(norm(h, mask)) if self.prenorm else h, mask))
            if not self.prenorm:
                h = masked(norm(h, mask))
        if mask is None:
            return h.mean(dim=-1)
        return masked(h).sum(dim=-1) / lengths.clamp(min=1)[:, None].to(h.dtype)
