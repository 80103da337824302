"""Causal language model: embedding, a pre-norm residual stack of SSM blocks, tied output head.

    tokens [B, L] -> Embedding -> [B, H, L] -> n x (x + dropout(block(LayerNorm(x)))) -> LayerNorm
                  -> logits [B, L, vocab] = h @ embedding.weight^T

Every part is causal (the S4D convolution, the neurons, position-wise GLU and LayerNorm), so the
logits at ``t`` depend on tokens ``<= t`` only. BatchNorm would mix positions; it is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from ..ssm.blocks import SSMBlock


class CausalLanguageModel(nn.Module):
    def __init__(self, vocab: int, block: Callable[[int], SSMBlock], d_model: int = 256, layers: int = 4,
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        if vocab < 2 or d_model < 1 or layers < 1:
            raise ValueError(f"bad sizes: vocab={vocab}, d_model={d_model}, layers={layers}")
        self.embedding = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(block(d_model) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ValueError(f"tokens must be integer ids [B, L], got {tokens.dtype} of shape {tuple(tokens.shape)}")
        h = self.embedding(tokens)  # [B, L, H]
        for block, norm in zip(self.blocks, self.norms, strict=True):
            h = h + self.dropout(block(norm(h).transpose(1, 2)).transpose(1, 2))
        return self.final_norm(h) @ self.embedding.weight.T
