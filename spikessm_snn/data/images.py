"""Image tasks read pixel by pixel from the user's copies: MNIST (IDX files) and CIFAR-10 (binary release).

``need_files`` finds the files a task needs in ``--data-dir`` (or their ``.gz``) and names the
missing one.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset


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


def _read_idx(path: Path) -> np.ndarray:
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_pixels(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = need_files(data_dir, "smnist", names, "put the four MNIST IDX files there")
    images = [torch.from_numpy(_read_idx(p).reshape(-1, 784, 1).astype(np.float32) / 255) for p in paths[0::2]]
    labels = [torch.from_numpy(_read_idx(p).astype(np.int64)) for p in paths[1::2]]
    return TensorDataset(images[0], labels[0]), TensorDataset(images[1], labels[1])


def cifar_gray(data_dir: str | Path | None) -> tuple[Dataset, Dataset]:
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    paths = need_files(data_dir, "scifar", names, "put the CIFAR-10 binary release (cifar-10-batches-bin) there")

    def read(files: list[Path]) -> TensorDataset:
        records = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in files])
        rgb = records[:, 1:].reshape(-1, 3, 1024).astype(np.float32) / 255
        gray = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # ITU-R 601 luma
        return TensorDataset(torch.from_numpy(gray[..., None]), torch.from_numpy(records[:, 0].astype(np.int64)))

    return read(paths[:5]), read(paths[5:])
