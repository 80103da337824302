"""LRA's Text, Retrieval and Pathfinder tasks, read from the user's copies in their standard layouts.

Text and Retrieval are byte-level, as in LRA: each UTF-8 byte ``b`` is token ``b + 1`` (0 pads),
vocabulary 257.

- ``imdb_text(dir)``: the IMDB reviews release (``aclImdb``: ``{train,test}/{pos,neg}/*.txt``),
  positive = 1, at most ``TEXT_LENGTH`` bytes.
- ``aan_retrieval(dir)``: LRA's ACL Anthology pairs (``lra_release/tsv_data``:
  ``new_aan_pairs.{train,test}.tsv``, columns label, id1, id2, text1, text2), each document at
  most ``RETRIEVAL_LENGTH`` bytes; items are pairs ``[2, L, 257]`` for a two-tower classifier.
- ``pathfinder(dir, seed)``: one difficulty folder of the release (e.g.
  ``lra_release/pathfinder32/curv_contour_length_14``; ``pathfinder128`` is Path-X):
  ``metadata/*.npy`` (text lines ``subdir file _ label ...``) and the PNGs they name; pixels
  scaled to [0, 1] and read row by row; a seeded 90/10 split into train and test.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .tokens import OneHotTokens, pad

BYTE_VOCAB = 257
TEXT_LENGTH = 4096
RETRIEVAL_LENGTH = 4000


def _bytes(text: str, length: int) -> list[int]:
    return [b + 1 for b in text.encode("utf-8")[:length]]


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; {what}")
    return path


def imdb_text(data_dir: str | Path) -> tuple[Dataset, Dataset]:
    hint = "give --data-dir the aclImdb folder of the IMDB reviews release (train/ and test/ with pos/ and neg/)"
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in ((0, "neg"), (1, "pos")):
            files = sorted(_require(Path(data_dir) / split / polarity, hint).glob("*.txt"))
            if not files:
                raise FileNotFoundError(f"{Path(data_dir) / split / polarity} holds no .txt reviews; {hint}")
            texts += [_bytes(f.read_text(encoding="utf-8"), TEXT_LENGTH) for f in files]
            labels += [label] * len(files)
        splits.append(OneHotTokens(pad(texts), torch.tensor(labels), BYTE_VOCAB))
    return splits[0], splits[1]


def aan_retrieval(data_dir: str | Path) -> tuple[Dataset, Dataset]:
    hint = "give --data-dir LRA's lra_release/tsv_data folder (new_aan_pairs.{train,test}.tsv)"
    csv.field_size_limit(sys.maxsize)
    splits = []
    for split in ("train", "test"):
        path = _require(Path(data_dir) / f"new_aan_pairs.{split}.tsv", hint)
        with path.open(newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]
        if any(len(row) != 5 for row in rows):
            raise ValueError(f"{path}: every line must hold label, id1, id2, text1, text2 separated by tabs")
        first, second = (
            pad([_bytes(row[i], RETRIEVAL_LENGTH) for row in rows], length=RETRIEVAL_LENGTH) for i in (3, 4)
        )
        labels = torch.tensor([int(float(row[0])) for row in rows])
        splits.append(OneHotTokens(torch.stack([first, second], dim=1), labels, BYTE_VOCAB))
    return splits[0], splits[1]


def pathfinder(data_dir: str | Path, seed: int = 0) -> tuple[Dataset, Dataset]:
    from PIL import Image  # Pillow comes with matplotlib

    hint = "give --data-dir one Pathfinder folder of the LRA release, e.g. pathfinder32/curv_contour_length_14"
    metadata = sorted(_require(Path(data_dir) / "metadata", hint).glob("*.npy"))
    if not metadata:
        raise FileNotFoundError(f"{Path(data_dir) / 'metadata'} holds no .npy metadata files; {hint}")
    entries = [line.split() for file in metadata for line in file.read_text().splitlines() if line.strip()]
    images, labels = [], []
    for subdir, name, _, label, *_ in entries:
        image = Image.open(_require(Path(data_dir) / subdir / name, hint)).convert("L")
        images.append(np.asarray(image, dtype=np.uint8).reshape(-1))
        labels.append(int(label))
    pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 255).unsqueeze(-1)  # [n, H*W, 1]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = len(order) - max(1, len(order) // 10)
    data = TensorDataset(pixels, torch.tensor(labels))
    return torch.utils.data.Subset(data, order[:cut].tolist()), torch.utils.data.Subset(data, order[cut:].tolist())
