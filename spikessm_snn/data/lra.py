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

The files are untrusted input (``files.py``): regular files of bounded size, UTF-8 text whose
errors name the file and line, labels 0 or 1, no empty split, and Pathfinder images named by
relative paths inside the folder (no ``..``, no absolute path) of one size.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .files import check_not_empty, decode, read_bytes, regular_file, text_lines
from .tokens import OneHotTokens, pad

BYTE_VOCAB = 257
TEXT_LENGTH = 4096
RETRIEVAL_LENGTH = 4000
MAX_PATHFINDER_PIXELS = 256 * 256  # Path-X (pathfinder128) is 128 x 128


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
            texts += [_bytes(decode(read_bytes(f), f), TEXT_LENGTH) for f in files]
            labels += [label] * len(files)
        splits.append(OneHotTokens(pad(texts), torch.tensor(labels), BYTE_VOCAB))
    return splits[0], splits[1]


def _binary_label(text: str, where: str) -> int:
    """A label of the two classes of Retrieval and Pathfinder: ``0``/``1`` (also ``0.0``/``1.0``, as
    LRA writes them); anything else is refused."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value not in (0.0, 1.0):
        raise ValueError(f"{where}: label {text!r} is not 0 or 1")
    return int(value)


def aan_retrieval(data_dir: str | Path) -> tuple[Dataset, Dataset]:
    hint = "give --data-dir LRA's lra_release/tsv_data folder (new_aan_pairs.{train,test}.tsv)"
    splits = []
    for split in ("train", "test"):
        path = _require(Path(data_dir) / f"new_aan_pairs.{split}.tsv", hint)
        rows = []
        for number, line in text_lines(path):  # tab-separated, no quoting
            if not line:
                continue
            row = line.split("\t")
            if len(row) != 5:
                raise ValueError(f"{path}:{number}: {len(row)} fields; a line holds label, id1, id2, text1, text2 "
                                 "separated by tabs")  # fmt: skip
            rows.append((_binary_label(row[0], f"{path}:{number}"), row[3], row[4]))
        check_not_empty(len(rows), path)
        first, second = (
            pad([_bytes(row[i], RETRIEVAL_LENGTH) for row in rows], length=RETRIEVAL_LENGTH) for i in (1, 2)
        )
        labels = torch.tensor([row[0] for row in rows])
        splits.append(OneHotTokens(torch.stack([first, second], dim=1), labels, BYTE_VOCAB))
    return splits[0], splits[1]


def pathfinder(data_dir: str | Path, seed: int = 0) -> tuple[Dataset, Dataset]:
    hint = "give --data-dir one Pathfinder folder of the LRA release, e.g. pathfinder32/curv_contour_length_14"
    metadata = sorted(_require(Path(data_dir) / "metadata", hint).glob("*.npy"))
    if not metadata:
        raise FileNotFoundError(f"{Path(data_dir) / 'metadata'} holds no .npy metadata files; {hint}")
    images, labels, size = [], [], None
    for file in metadata:
        for number, line in text_lines(file):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            fields = line.split()
            if len(fields) < 4:
                raise ValueError(f"{where}: {len(fields)} fields; a line holds subdir, file, _, label, ...")
            image_path = _inside(Path(data_dir), fields[0], fields[1], where)
            image = _gray_pixels(_require(image_path, hint), where)
            size = size or image.shape
            if image.shape != size:
                raise ValueError(f"{where}: {image_path} is {image.shape[1]}x{image.shape[0]}, the first image "
                                 f"{size[1]}x{size[0]}")  # fmt: skip
            images.append(image.reshape(-1))
            labels.append(_binary_label(fields[3], where))
    if len(labels) < 2:
        raise ValueError(f"{Path(data_dir) / 'metadata'} lists {len(labels)} images; a train/test split needs 2")
    pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 255).unsqueeze(-1)  # [n, H*W, 1]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = len(order) - max(1, len(order) // 10)
    data = TensorDataset(pixels, torch.tensor(labels))
    return torch.utils.data.Subset(data, order[:cut].tolist()), torch.utils.data.Subset(data, order[cut:].tolist())


def _inside(root: Path, subdir: str, name: str, where: str) -> Path:
    """``root / subdir / name`` for a relative path that stays inside ``root``; else refused."""
    relative = PurePath(subdir, name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{where}: the image path {str(relative)!r} leaves the data folder; give it relative, "
                         "without '..'")  # fmt: skip
    return root / relative


def _gray_pixels(path: Path, where: str) -> np.ndarray:
    """The gray pixels ``[H, W]`` of a regular image file of at most ``MAX_PATHFINDER_PIXELS``
    (checked from its header, before it is decoded)."""
    from PIL import Image  # Pillow comes with matplotlib

    regular_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PATHFINDER_PIXELS:
                raise ValueError(f"{where}: {path} is {width}x{height}, larger than any Pathfinder image")
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, Image.DecompressionBombError) as error:  # UnidentifiedImageError is an OSError
        raise ValueError(f"{where}: {path} is not a readable image: {error}") from error
