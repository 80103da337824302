"""Every task by name: ``load_task(task, data_dir, seed) -> Task(train, val, test, d_input, classes)``.

Models are selected on ``val``, never on ``test``. ListOps has its own validation file; every other
task holds out a seeded ``VAL_FRACTION`` of its training set (WikiText-103 too: its valid file is
not read).

- ``digits``: embedded (``digits.py``), no ``data_dir``.
- ``listops``: ``basic_{train,val,test}.tsv`` in ``data_dir``, the official LRA release
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

from pathlib import Path
from typing import NamedTuple

from torch.utils.data import Dataset

from .batching import hold_out
from .digits import sequential_digits
from .images import cifar_gray, mnist_pixels, need_files
from .listops import VOCAB, ListOpsDataset
from .lra import BYTE_VOCAB, aan_retrieval, imdb_text, pathfinder
from .wikitext import wikitext

TASKS = ("digits", "listops", "smnist", "scifar", "lra-text", "lra-retrieval", "pathfinder", "wikitext")
LANGUAGE_TASKS = ("wikitext",)
PAIR_TASKS = ("lra-retrieval",)  # items are two sequences, classified by a two-tower model
VAL_FRACTION = 0.1  # of the training set, held out (seeded) where a task has no validation split of its own


class Task(NamedTuple):
    train: Dataset
    val: Dataset
    test: Dataset
    d_input: int
    classes: int


def _split_off_val(train: Dataset, test: Dataset, d_input: int, classes: int, seed: int) -> Task:
    rest, val = hold_out(train, VAL_FRACTION, seed)
    return Task(rest, val, test, d_input, classes)


def load_task(task: str, data_dir: str | Path | None = None, seed: int = 0, context: int = 512,
              splits: tuple[str, ...] = ("train", "val", "test")) -> Task:  # fmt: skip
    """``Task(train, val, test, d_input, classes)`` of ``task`` (see the module docstring). A task whose
    splits lie in files of their own (ListOps) reads only ``splits``; the others are then ``None``."""
    if task == "digits":
        train, test = sequential_digits(seed=seed)
        return _split_off_val(train, test, 1, 10, seed)
    if task == "listops":
        hint = "use the LRA release (listops-1000) or 'spikessm listops-generate --out DIR'"
        names = [f"basic_{split}.tsv" for split in ("train", "val", "test")]
        paths = need_files(data_dir, task, names, hint)
        data = [ListOpsDataset(path) if split in splits else None for split, path in zip(("train", "val", "test"),
                                                                                          paths, strict=True)]
        return Task(*data, len(VOCAB), 10)
    if task == "smnist":
        return _split_off_val(*mnist_pixels(data_dir), 1, 10, seed)
    if task == "scifar":
        return _split_off_val(*cifar_gray(data_dir), 1, 10, seed)
    if task in ("lra-text", "lra-retrieval", "pathfinder") and data_dir is None:
        raise FileNotFoundError(f"task {task!r} reads its data from --data-dir (see spikessm_snn/data/lra.py)")
    if task == "lra-text":
        return _split_off_val(*imdb_text(data_dir), BYTE_VOCAB, 2, seed)
    if task == "lra-retrieval":
        return _split_off_val(*aan_retrieval(data_dir), BYTE_VOCAB, 2, seed)
    if task == "pathfinder":
        return _split_off_val(*pathfinder(data_dir, seed), 1, 2, seed)
    if task == "wikitext":
        names = ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"]
        paths = need_files(data_dir, task, names, "put the WikiText-103 token files there")
        train, test, vocab = wikitext(paths, context)
        return _split_off_val(train, test, vocab, vocab, seed)
    raise ValueError(f"unknown task {task!r}; known: {TASKS}")
