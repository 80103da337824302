"""ListOps generation and reading, and the readers of user-supplied datasets."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from spikessm_snn.data.listops import VOCAB, ListOpsDataset, evaluate, generate_files, tokenize
from spikessm_snn.data.tasks import load_task


def test_listops_values_by_hand() -> None:
    assert evaluate("( ( ( ( [MAX 2 ) 9 ) 4 ) ] )") == 9
    assert evaluate("( ( ( [MED 1 ) 8 ) ] )") == 4  # int(median(1, 8)) = int(4.5)
    assert evaluate("( ( ( ( [SM 7 ) 8 ) ( ( ( [MIN 3 ) 5 ) ] ) ) ] )") == 8  # (7 + 8 + 3) % 10
    assert evaluate("6") == 6
    assert tokenize("( ( [MIN 3 ) ] )") == [VOCAB.index("[MIN"), VOCAB.index("3"), VOCAB.index("X"), 1]


def test_generated_files_are_deterministic_valid_and_read_back(tmp_path) -> None:
    kwargs = {"train": 20, "val": 5, "test": 5, "seed": 7, "min_length": 30, "max_length": 200}
    first = generate_files(tmp_path / "a", **kwargs)
    second = generate_files(tmp_path / "b", **kwargs)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert first[0].read_text() != generate_files(tmp_path / "c", **{**kwargs, "seed": 8})[0].read_text()
    rows = [line.split("\t") for line in first[0].read_text().splitlines()]
    assert rows[0] == ["Source", "Target"] and len(rows) == 21
    sources = [r[0] for r in rows[1:]]
    assert len(set(sources)) == 20 and all(evaluate(s) == int(t) for s, t in rows[1:])
    assert all(30 < sum(tok not in ("(", ")") for tok in s.split()) < 200 for s in sources)  # values + 2 per op
    train, test, d_input, classes = load_task("listops", tmp_path / "a")
    x, y = train[0]
    assert len(train) == 20 and len(test) == 5 and x.shape[1] == d_input == len(VOCAB) and classes == 10
    assert torch.equal(x.sum(1), torch.ones(x.shape[0])) and int(y) == int(rows[1][1])


def test_listops_reader_refuses_other_files(tmp_path) -> None:
    (tmp_path / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a ListOps file"):
        ListOpsDataset(tmp_path / "bad.tsv")


def _idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_and_cifar_readers_and_their_errors(tmp_path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte is missing"):
        load_task("smnist", tmp_path)
    for split, n in (("train", 5), ("t10k", 3)):
        _idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    train, test, d_input, _ = load_task("smnist", tmp_path)
    assert train.tensors[0].shape == (5, 784, 1) and len(test) == 3 and d_input == 1
    with pytest.raises(FileNotFoundError, match=r"data_batch_1\.bin is missing"):
        load_task("scifar", tmp_path)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (4, 3073)).astype(np.uint8)
        records[:, 0] %= 10
        records.tofile(tmp_path / name)
    train, test, _, _ = load_task("scifar", tmp_path)
    assert train.tensors[0].shape == (20, 1024, 1) and float(train.tensors[0].max()) <= 1.0
    with pytest.raises(FileNotFoundError, match="reads its data from --data-dir"):
        load_task("scifar", None)
