"""MNIST and CIFAR-10 readers on hostile files: each refused with an error naming the file."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from spikessm_snn.data import files
from spikessm_snn.data.images import cifar_gray, mnist_pixels, read_idx

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _mnist(root, train: int = 5, test: int = 3, labels: int = 10) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    contents = {}
    for prefix, n in (("train", train), ("t10k", test)):
        contents[f"{prefix}-images-idx3-ubyte"] = _idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        contents[f"{prefix}-labels-idx1-ubyte"] = _idx(rng.integers(0, labels, (n,), dtype=np.uint8))
    for name, content in contents.items():
        (root / name).write_bytes(content)
    return contents


def test_valid_idx_files_are_read_exactly(tmp_path) -> None:
    contents = _mnist(tmp_path)
    train, test = mnist_pixels(tmp_path)
    images = np.frombuffer(contents["train-images-idx3-ubyte"][16:], dtype=np.uint8).reshape(5, 784)
    assert np.allclose(train.tensors[0][..., 0].numpy(), images / 255)
    assert train.tensors[1].tolist() == list(contents["train-labels-idx1-ubyte"][8:]) and len(test) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [(_idx(np.zeros((4,), np.uint8)), r"has 1 dimensions; an IDX file of images has 3"),  # a labels file
     (_idx(np.zeros((2, 28, 28), np.uint8), type_code=0x0D), "not an IDX file of unsigned bytes"),  # floats
     (b"\x1f\x8b\x08\x00" + bytes(100), "not an IDX file of unsigned bytes"),  # wrong magic number
     (_idx(np.zeros((2, 28, 27), np.uint8)), r"images of shape \(28, 27\), expected \(28, 28\)"),
     (_idx(np.zeros((2, 28, 28), np.uint8))[:-1], r"holds 1567 bytes of data; its header says 1568"),
     (_idx(np.zeros((2, 28, 28), np.uint8)) + b"\x00", r"holds more bytes of data than its header says \(1568\)"),
     (bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**31, 28, 28), "claims 1683627180032 bytes"),
     (b"", "starts empty"),
     (_idx(np.zeros((0, 28, 28), np.uint8)), "holds no items")],
    ids=["labels_as_images", "type_code", "magic", "dimensions", "truncated", "trailing", "huge_claim", "empty",
         "no_items"],
)  # fmt: skip
def test_a_malformed_images_file_is_refused_by_name(content, message, tmp_path) -> None:
    _mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(content)
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte:? .*{message}"):
        mnist_pixels(tmp_path)


def test_labels_outside_the_ten_classes_and_mismatched_counts_are_refused(tmp_path) -> None:
    _mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.array([3, 200, 1], np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: item 1 has label 200, outside 0..9"):
        mnist_pixels(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.array([3, 2], np.uint8)))
    with pytest.raises(ValueError, match=r"holds 3 images but .*t10k-labels-idx1-ubyte 2 labels"):
        mnist_pixels(tmp_path)


def test_a_gzip_bomb_stops_at_its_claimed_size_or_the_ratio_cap(tmp_path) -> None:
    """200 MB of zeros compress to 200 KB: the IDX header claims 4 images, and reading stops there;
    read whole, the file stops at GZIP_RATIO times its size."""
    _mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 4, 28, 28)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(200):
            f.write(bytes(2**20))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ValueError, match=r"holds more bytes of data than its header says \(3136\)"):
        mnist_pixels(tmp_path)
    with pytest.raises(ValueError, match=rf"decompresses to more than {64 * bomb.stat().st_size + 2**20} bytes"):
        files.read_bytes(bomb)


def test_an_idx_header_claiming_more_than_a_compressed_file_can_hold_is_refused(tmp_path) -> None:
    bomb = tmp_path / "images.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28) + bytes(1000))
    with pytest.raises(ValueError, match="claims 47040000 bytes of data, more than the file can hold"):
        read_idx(bomb, (28, 28), "images")


def _gzip_copy(source, target):
    with gzip.open(target, "wb") as f:
        f.write(source.read_bytes())
    return target


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder"])
def test_a_fifo_a_device_or_a_folder_is_refused_without_reading(kind, tmp_path, outcome_within) -> None:
    _mnist(tmp_path)
    target = tmp_path / "train-labels-idx1-ubyte"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev_zero":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    error = outcome_within(20, mnist_pixels, tmp_path)
    assert isinstance(error, ValueError) and "train-labels-idx1-ubyte is not a regular file" in str(error)


def _cifar(root, labels: int = 10) -> None:
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (4, 3073), dtype=np.uint8)
        records[:, 0] %= labels
        records.tofile(root / name)


def test_cifar_records_labels_and_files_are_checked(tmp_path, outcome_within) -> None:
    _cifar(tmp_path)
    train, test = cifar_gray(tmp_path)
    assert len(train) == 20 and len(test) == 4
    records = np.fromfile(tmp_path / "test_batch.bin", dtype=np.uint8).reshape(4, 3073)
    records[2, 0] = 77
    records.tofile(tmp_path / "test_batch.bin")
    with pytest.raises(ValueError, match=r"test_batch\.bin: item 2 has label 77, outside 0..9"):
        cifar_gray(tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(records.tobytes()[:-5])
    with pytest.raises(ValueError, match=r"test_batch\.bin holds 12287 bytes, not a whole number of 3073-byte"):
        cifar_gray(tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test_batch\.bin holds no items"):
        cifar_gray(tmp_path)
    (tmp_path / "test_batch.bin").unlink()
    (tmp_path / "test_batch.bin").symlink_to("/dev/zero")
    error = outcome_within(20, cifar_gray, tmp_path)
    assert isinstance(error, ValueError) and "test_batch.bin is not a regular file" in str(error)


def test_a_compressed_cifar_file_is_decompressed(tmp_path) -> None:
    _cifar(tmp_path)
    plain = cifar_gray(tmp_path)[1].tensors[0]
    source = tmp_path / "test_batch.bin"
    _gzip_copy(source, tmp_path / "test_batch.bin.gz")
    source.unlink()
    assert np.array_equal(cifar_gray(tmp_path)[1].tensors[0].numpy(), plain.numpy())
