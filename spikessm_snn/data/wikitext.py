"""WikiText-103 (word level) from the user's copy: ``wiki.{train,valid,test}.tokens``.

The vocabulary is every word of the training file (plus ``<eos>`` at each line end), ordered by
frequency then first appearance; the token stream is cut into windows of ``context + 1``
tokens (inputs and next-token targets).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import TensorDataset


def _words(path: Path) -> list[str]:
    words: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            words += [*line.split(), "<eos>"]
    return words


def wikitext(paths: list[Path], context: int) -> tuple[TensorDataset, TensorDataset, int]:
    """``(train, test, vocab size)``; items ``(inputs [context], targets [context])``."""
    if context < 2:
        raise ValueError(f"context must be >= 2, got {context}")
    train_words, test_words = _words(paths[0]), _words(paths[-1])
    counts = Counter(train_words)
    vocab = {w: i for i, w in enumerate(sorted(counts, key=lambda w: -counts[w]))}
    unk = vocab.setdefault("<unk>", len(vocab))

    def windows(words: list[str]) -> TensorDataset:
        ids = torch.tensor([vocab.get(w, unk) for w in words])
        n = (len(ids) - 1) // context
        if n < 1:
            raise ValueError(f"a text of {len(ids)} tokens is shorter than one window of {context + 1}")
        x = ids[: n * context].reshape(n, context)
        y = ids[1 : n * context + 1].reshape(n, context)
        return TensorDataset(x, y)

    return windows(train_words), windows(test_words), len(vocab)
