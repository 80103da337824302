"""Token sequences as one-hot inputs: the form every token task here gives the classifier."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset


class OneHotTokens(Dataset):
    """``tokens [n, L]`` (or ``[n, 2, L]`` for pairs of documents) of ids ``< vocab``, 0 padding
    after each sequence's end; items are one-hot ``[L, vocab]`` (or ``[2, L, vocab]``) float and the
    label. ``lengths [n]`` (or ``[n, 2]``) count each sequence's own tokens; ``batch(indices)``
    gives one-hot inputs cut to the longest sequence of those items, for length-bucketed batches."""

    def __init__(self, tokens: Tensor, labels: Tensor, vocab: int) -> None:
        if len(tokens) != len(labels):
            raise ValueError(f"{len(tokens)} sequences but {len(labels)} labels")
        self.tokens, self.labels, self.vocab = tokens, labels, vocab
        real = tokens != 0
        last = tokens.shape[-1] - real.flip(-1).to(torch.uint8).argmax(-1)  # after the last real token
        self.lengths = torch.where(real.any(-1), last, 0)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return torch.nn.functional.one_hot(self.tokens[i].long(), self.vocab).float(), self.labels[i]

    def batch(self, indices: list[int], multiple: int = 8) -> tuple[Tensor, Tensor, Tensor]:
        """``(x [b, L', vocab] (or [b, 2, L', vocab]), lengths [b] (or [b, 2]), labels [b])`` with ``L'`` the
        longest length among ``indices`` rounded up to a multiple of ``multiple``."""
        index = torch.as_tensor(indices, dtype=torch.long)
        lengths = self.lengths[index]
        longest = min(self.tokens.shape[-1], -(-max(int(lengths.max()), 1) // multiple) * multiple)
        tokens = self.tokens[index][..., :longest].long()
        return torch.nn.functional.one_hot(tokens, self.vocab).float(), lengths, self.labels[index]


def pad(sequences: list[list[int]], dtype: torch.dtype = torch.int16, length: int | None = None) -> Tensor:
    """``[n, length]`` (default: the longest) with 0 after each sequence's end."""
    out = torch.zeros(len(sequences), length or max(map(len, sequences), default=0), dtype=dtype)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.tensor(seq, dtype=dtype)
    return out
