"""ListOps generation and reading, and the readers of user-supplied datasets."""

from __future__ import annotations

import gzip
import os

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
    task = load_task("listops", tmp_path / "a")
    x, y = task.train[0]
    assert (len(task.train), len(task.val), len(task.test)) == (20, 5, 5)
    assert x.shape[1] == task.d_input == len(VOCAB) and task.classes == 10
    assert torch.equal(x.sum(1), torch.ones(x.shape[0])) and int(y) == int(rows[1][1])
    assert int(task.train.lengths[0]) == len(tokenize(rows[1][0]))


def test_the_generated_files_do_not_depend_on_the_number_of_workers(tmp_path) -> None:
    kwargs = {"train": 30, "val": 4, "test": 4, "seed": 1, "min_length": 20, "max_length": 100}
    one = generate_files(tmp_path / "one", workers=1, **kwargs)
    two = generate_files(tmp_path / "two", workers=2, **kwargs)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


@pytest.mark.parametrize(("counts", "message"), [({"train": -5}, "--train must be >= 1"), ({"val": 0}, "--val"),
                                                 ({"test": 0}, "--test")])  # fmt: skip
def test_the_generator_refuses_empty_splits(counts, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        generate_files(tmp_path / "out", **{"train": 10, "val": 2, "test": 2, **counts})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "message"), [
    (b"a\tb\n1\t2\n", "not a ListOps file"),
    (b"Source\tTarget\n( ( [MAX 2 ) 9 ] )\t9\n( ( [MIN 2 ) 3 ] )\t12\n", "line 3: expected an expression"),
    (b"Source\tTarget\n( ( [MAX 2 ) 9 ] )\t-1\n", "line 2: expected"),
    (b"Source\tTarget\n( ( [MAX 2 ) 9 ] )\n", "line 2: expected"),
    (b"Source\tTarget\n( ( [FOO 2 ) 9 ] )\t9\n", "line 2: unknown ListOps token '\\[FOO'"),
    (b"Source\tTarget\n( ( [MAX 22 ) 9 ] )\t9\n", "line 2: unknown ListOps token '22'"),
    (b"Source\tTarget\n", "holds no sequences"),
    (b"Source\tTarget\n( ( [MAX 2 ) \xff ] )\t9\n", "not UTF-8"),
])  # fmt: skip
def test_the_listops_reader_names_the_file_and_line_of_a_bad_row(text, message, tmp_path) -> None:
    (tmp_path / "bad.tsv").write_bytes(text)
    with pytest.raises(ValueError, match=message):
        ListOpsDataset(tmp_path / "bad.tsv")


def test_every_task_has_a_validation_split_apart_from_training() -> None:
    task = load_task("digits", seed=3)
    train_items = {tuple(task.train[i][0].flatten().tolist()) for i in range(len(task.train))}
    assert len(task.val) == round(0.1 * (len(task.train) + len(task.val)))
    assert not any(tuple(task.val[i][0].flatten().tolist()) in train_items for i in range(len(task.val)))


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
    task = load_task("smnist", tmp_path)
    assert task.train[0][0].shape == (784, 1) and len(task.train) + len(task.val) == 5 and len(task.test) == 3
    assert task.d_input == 1
    with pytest.raises(FileNotFoundError, match=r"data_batch_1\.bin is missing"):
        load_task("scifar", tmp_path)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (4, 3073)).astype(np.uint8)
        records[:, 0] %= 10
        records.tofile(tmp_path / name)
    task = load_task("scifar", tmp_path)
    assert task.train[0][0].shape == (1024, 1) and len(task.train) + len(task.val) == 20
    assert float(task.train[0][0].max()) <= 1.0
    with pytest.raises(FileNotFoundError, match="reads its data from --data-dir"):
        load_task("scifar", None)


def test_the_listops_reader_refuses_a_fifo_without_opening_it(tmp_path) -> None:
    os.mkfifo(tmp_path / "basic_train.tsv")  # opening it would block for ever
    with pytest.raises(ValueError, match="not a regular file"):
        ListOpsDataset(tmp_path / "basic_train.tsv")
