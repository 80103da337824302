"""Image tasks read pixel by pixel from the user's copies: MNIST (IDX files) and CIFAR-10 (binary release).

``need_files`` finds the files a task needs in ``--data-dir`` (or their ``.gz``) and names the
missing one. The files are untrusted input (``files.py``): an IDX file must carry the magic
number of unsigned bytes, the dimensions of its role (images ``[n, 28, 28]``, labels ``[n]``)
and exactly as many bytes as they say, read no further; a CIFAR file whole 3073-byte records;
labels lie in ``0 .. 9`` and no split is empty.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .files import check_labels, check_not_empty, open_data, read_bytes, readable_bytes

CLASSES = 10
MNIST_IMAGE = (28, 28)
CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte, then 1024 red, green and blue pixels


def need_files(data_dir: str | Path | None, task: str, names: list[str], hint: str) -> list[Path]:
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


def read_idx(path: Path, item_shape: tuple[int, ...], role: str) -> np.ndarray:
    """An IDX file of unsigned bytes shaped ``[n, *item_shape]``; anything else is refused by name."""
    with open_data(path) as f:
        header = f.read(4)
        if len(header) < 4 or header[:3] != b"\x00\x00\x08":
            raise ValueError(f"{path} is not an IDX file of unsigned bytes (it starts {header.hex() or 'empty'})")
        dims = header[3]
        if dims != 1 + len(item_shape):
            raise ValueError(f"{path} has {dims} dimensions; an IDX file of {role} has {1 + len(item_shape)}")
        raw_shape = f.read(4 * dims)
        if len(raw_shape) < 4 * dims:
            raise ValueError(f"{path} ends inside its header")
        shape = struct.unpack(f">{dims}I", raw_shape)
        if shape[1:] != item_shape:
            raise ValueError(f"{path} holds {role} of shape {shape[1:]}, expected {item_shape}")
        size = math.prod(shape)
        if size > readable_bytes(path):
            raise ValueError(f"{path} claims {size} bytes of data, more than the file can hold")
        data = f.read(size + 1)
    if len(data) > size:
        raise ValueError(f"{path} holds more bytes of data than its header says ({size})")
    if len(data) < size:
        raise ValueError(f"{path} holds {len(data)} bytes of data; its header says {size}")
    check_not_empty(shape[0], path)
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def mnist_pixels(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = need_files(data_dir, "smnist", names, "put the four MNIST IDX files there")
    splits = []
    for image_path, label_path in zip(paths[0::2], paths[1::2], strict=True):
        images = read_idx(image_path, MNIST_IMAGE, "images")
        labels = torch.from_numpy(read_idx(label_path, (), "labels").astype(np.int64))
        if len(images) != len(labels):
            raise ValueError(f"{image_path} holds {len(images)} images but {label_path} {len(labels)} labels")
        check_labels(labels, CLASSES, label_path)
        pixels = torch.from_numpy(images.reshape(-1, 784, 1).astype(np.float32) / 255)
        splits.append(TensorDataset(pixels, labels))
    return splits[0], splits[1]


def _cifar_records(path: Path) -> np.ndarray:
    raw = read_bytes(path)
    if len(raw) % CIFAR_RECORD:
        raise ValueError(f"{path} holds {len(raw)} bytes, not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records")
    check_not_empty(len(raw), path)
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    check_labels(torch.from_numpy(records[:, 0].astype(np.int64)), CLASSES, path)
    return records


def cifar_gray(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    paths = need_files(data_dir, "scifar", names, "put the CIFAR-10 binary release (cifar-10-batches-bin) there")

    def read(files: list[Path]) -> TensorDataset:
        records = np.concatenate([_cifar_records(p) for p in files])
        rgb = records[:, 1:].reshape(-1, 3, 1024).astype(np.float32) / 255
        gray = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # ITU-R 601 luma
        return TensorDataset(torch.from_numpy(gray[..., None]), torch.from_numpy(records[:, 0].astype(np.int64)))

    return read(paths[:5]), read(paths[5:])
