"""Token sequences as one-hot inputs: the form every token task here gives the classifier."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset


class OneHotTokens(Dataset):
    """``tokens [n, L]`` (or ``[n, 2, L]`` for pairs of documents) of ids ``< vocab``, 0 padding;
    items are one-hot ``[L, vocab]`` (or ``[2, L, vocab]``) float and the label."""

    def __init__(self, tokens: Tensor, labels: Tensor, vocab: int) -> None:
        if len(tokens) != len(labels):
            raise ValueError(f"{len(tokens)} sequences but {len(labels)} labels")
        self.tokens, self.labels, self.vocab = tokens, labels, vocab

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return torch.nn.functional.one_hot(self.tokens[i].long(), self.vocab).float(), self.labels[i]


def pad(sequences: list[list[int]], dtype: torch.dtype = torch.int16, length: int | None = None) -> Tensor:
    """``[n, length]`` (default: the longest) with 0 after each sequence's end."""
    out = torch.zeros(len(sequences), length or max(map(len, sequences), default=0), dtype=dtype)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.tensor(seq, dtype=dtype)
    return out
