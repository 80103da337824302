"""Every classification task by name: ``load_task(task, data_dir, seed) -> (train, test, d_input, classes)``.

- ``digits``: embedded (``digits.py``), no ``data_dir``.
- ``listops``: ``basic_train.tsv`` and ``basic_test.tsv`` in ``data_dir``, the official LRA release
  (``lra_release/listops-1000``) or ``spikessm listops-generate --out DIR``.
- ``smnist``: the MNIST IDX files in ``data_dir`` (``train-images-idx3-ubyte``, ... optionally
  ``.gz``), read pixel by pixel (784 steps, 1 channel).
- ``scifar``: the CIFAR-10 binary release in ``data_dir`` (``data_batch_1.bin`` ...
  ``test_batch.bin``), grayscale, 1024 steps.
- ``lra-text``, ``lra-retrieval``, ``pathfinder`` (also Path-X: ``pathfinder128``): LRA's byte-level
  IMDB, its ACL Anthology pairs (two documents an item, for a two-tower classifier) and its
  Pathfinder images, from the user's copies (``lra.py`` says which folder to give).
- ``wikitext`` (language modelling): ``wiki.{train,valid,test}.tokens`` of WikiText-103 in
  ``data_dir``; windows of ``context`` tokens; ``d_input`` and ``classes`` are the vocabulary size.

A missing file raises ``FileNotFoundError`` naming it and saying what to put there.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .digits import sequential_digits
from .listops import VOCAB, ListOpsDataset
from .lra import BYTE_VOCAB, aan_retrieval, imdb_text, pathfinder
from .wikitext import wikitext

TASKS = ("digits", "listops", "smnist", "scifar", "lra-text", "lra-retrieval", "pathfinder", "wikitext")
LANGUAGE_TASKS = ("wikitext",)
PAIR_TASKS = ("lra-retrieval",)  # items are two sequences, classified by a two-tower model


def _need(data_dir: str | Path | None, task: str, names: list[str], hint: str) -> list[Path]:
    if data_dir is None:
        raise FileNotFoundError(f"task {task!r} reads its data from --data-dir: {hint}")
    paths = []
    for name in names:
        candidates = [Path(data_dir) / name, Path(data_dir) / f"{name}.gz"]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise FileNotFoundError(f"task {task!r}: {candidates[0]} is missing; {hint}")
        paths.append(found)
    return paths


def _read_idx(path: Path) -> np.ndarray:
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _mnist(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = _need(data_dir, "smnist", names, "put the four MNIST IDX files there")
    images = [torch.from_numpy(_read_idx(p).reshape(-1, 784, 1).astype(np.float32) / 255) for p in paths[0::2]]
    labels = [torch.from_numpy(_read_idx(p).astype(np.int64)) for p in paths[1::2]]
    return TensorDataset(images[0], labels[0]), TensorDataset(images[1], labels[1])


def _cifar(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    paths = _need(data_dir, "scifar", names, "put the CIFAR-10 binary release (cifar-10-batches-bin) there")

    def read(files: list[Path]) -> TensorDataset:
        records = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in files])
        rgb = records[:, 1:].reshape(-1, 3, 1024).astype(np.float32) / 255
        gray = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # ITU-R 601 luma
        return TensorDataset(torch.from_numpy(gray[..., None]), torch.from_numpy(records[:, 0].astype(np.int64)))

    return read(paths[:5]), read(paths[5:])


def load_task(task: str, data_dir: str | Path | None = None, seed: int = 0,
              context: int = 512) -> tuple[Dataset, Dataset, int, int]:  # fmt: skip
    if task == "digits":
        train, test = sequential_digits(seed=seed)
        return train, test, 1, 10
    if task == "listops":
        hint = "use the LRA release (listops-1000) or 'spikessm listops-generate --out DIR'"
        train_path, test_path = _need(data_dir, task, ["basic_train.tsv", "basic_test.tsv"], hint)
        return ListOpsDataset(train_path), ListOpsDataset(test_path), len(VOCAB), 10
    if task == "smnist":
        return (*_mnist(data_dir), 1, 10)
    if task == "scifar":
        return (*_cifar(data_dir), 1, 10)
    if task in ("lra-text", "lra-retrieval", "pathfinder") and data_dir is None:
        raise FileNotFoundError(f"task {task!r} reads its data from --data-dir (see spikessm_snn/data/lra.py)")
    if task == "lra-text":
        return (*imdb_text(data_dir), BYTE_VOCAB, 2)
    if task == "lra-retrieval":
        return (*aan_retrieval(data_dir), BYTE_VOCAB, 2)
    if task == "pathfinder":
        return (*pathfinder(data_dir, seed), 1, 2)
    if task == "wikitext":
        names = ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"]
        train, test, vocab = wikitext(_need(data_dir, task, names, "put the WikiText-103 token files there"), context)
        return train, test, vocab, vocab
    raise ValueError(f"unknown task {task!r}; known: {TASKS}")
