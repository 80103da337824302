"""WikiText-103 (word level) from the user's copy: ``wiki.{train,valid,test}.tokens``.

The vocabulary is every word of the training file (plus ``<eos>`` at each line end), ordered by
frequency then first appearance; the token stream is cut into windows of ``context + 1``
tokens (inputs and next-token targets). The files are untrusted input (``files.py``): a
regular file of bounded size, UTF-8 (an error names the file and line), at least one window long.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from .files import text_lines


def _words(path: Path) -> list[str]:
    words: list[str] = []
    for _, line in text_lines(path):
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

    def windows(words: list[str], path: Path) -> TensorDataset:
        ids = torch.tensor([vocab.get(w, unk) for w in words], dtype=torch.int64)
        n = (len(ids) - 1) // context
        if n < 1:
            raise ValueError(f"{path}: {len(ids)} tokens are fewer than one window of {context + 1}")
        x = ids[: n * context].reshape(n, context)
        y = ids[1 : n * context + 1].reshape(n, context)
        return TensorDataset(x, y)

    return windows(train_words, paths[0]), windows(test_words, paths[-1]), len(vocab)
