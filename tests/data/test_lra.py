"""LRA Text, Retrieval and Pathfinder readers on small stand-ins in the release layouts."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from spikessm_snn.data.lra import BYTE_VOCAB, RETRIEVAL_LENGTH, aan_retrieval, imdb_text, pathfinder
from spikessm_snn.data.tasks import load_task
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.ssm import s4d_block
from spikessm_snn.training.trainer import TrainConfig, train


def _imdb(root) -> None:
    reviews = {
        "train": {"pos": ["great film", "loved it é"], "neg": ["dull"]},
        "test": {"pos": ["fine"], "neg": ["bad"]},
    }
    for split, by_polarity in reviews.items():
        for polarity, texts in by_polarity.items():
            (root / split / polarity).mkdir(parents=True)
            for i, text in enumerate(texts):
                (root / split / polarity / f"{i}_7.txt").write_text(text, encoding="utf-8")


def test_imdb_reviews_are_read_byte_by_byte(tmp_path) -> None:
    _imdb(tmp_path)
    train_set, test_set = imdb_text(tmp_path)
    task = load_task("lra-text", tmp_path)
    assert (len(train_set), len(test_set), task.d_input, task.classes) == (3, 2, BYTE_VOCAB, 2)
    assert train_set.labels.tolist() == [0, 1, 1]  # neg first, then pos, files sorted
    x, y = train_set[2]
    ids = x.argmax(1)[: len("loved it é".encode())]
    assert bytes((ids - 1).tolist()).decode("utf-8") == "loved it é" and int(y) == 1
    assert x.shape == (len("loved it é".encode()), BYTE_VOCAB)  # padded to the longest review


def test_a_missing_imdb_folder_is_named(tmp_path) -> None:
    _imdb(tmp_path)
    for path in (tmp_path / "test" / "neg").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match=r"test/neg holds no \.txt reviews"):
        load_task("lra-text", tmp_path)
    with pytest.raises(FileNotFoundError, match="aclImdb folder"):
        load_task("lra-text", tmp_path / "nowhere")


def _aan(root, rows: dict[str, list[str]]) -> None:
    for split, lines in rows.items():
        (root / f"new_aan_pairs.{split}.tsv").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_aan_pairs_become_two_documents_an_item(tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tdoc one\tdoc two", '0.0\tc\td\tx\t"quoted" y'], "test": ["0\te\tf\tp\tq"]})
    train_set, test_set = aan_retrieval(tmp_path)
    task = load_task("lra-retrieval", tmp_path)
    x, y = train_set[1]
    assert x.shape == (2, RETRIEVAL_LENGTH, BYTE_VOCAB) and task.d_input == BYTE_VOCAB and task.classes == 2
    assert train_set.labels.tolist() == [1, 0] and len(test_set) == 1 and int(y) == 0
    assert bytes((x[1].argmax(1)[:10] - 1).tolist()) == b'"quoted" y'


def test_a_malformed_aan_line_is_refused(tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tonly one text"], "test": ["0\te\tf\tp\tq"]})
    with pytest.raises(ValueError, match="label, id1, id2, text1, text2"):
        load_task("lra-retrieval", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"new_aan_pairs\.train\.tsv is missing"):
        load_task("lra-retrieval", tmp_path / "elsewhere")


def _pathfinder(root, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    (root / "imgs" / "0").mkdir(parents=True)
    (root / "metadata").mkdir()
    images, lines = [], []
    for i in range(count):
        image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(image, mode="L").save(root / "imgs" / "0" / f"sample_{i}.png")
        images.append(image)
        lines.append(f"imgs/0 sample_{i}.png 0 {i % 2} 8 1.5")
    (root / "metadata" / "0.npy").write_text("\n".join(lines) + "\n")
    return images


def test_pathfinder_images_are_read_pixel_by_pixel_and_split(tmp_path) -> None:
    images = _pathfinder(tmp_path, 20)
    train_set, test_set = pathfinder(tmp_path, seed=3)
    task = load_task("pathfinder", tmp_path, seed=3)
    assert (len(train_set), len(test_set), task.d_input, task.classes) == (18, 2, 1, 2)
    index = train_set.indices[0]
    x, y = train_set[0]
    assert x.shape == (64, 1) and int(y) == index % 2
    assert torch.allclose(x[:, 0], torch.from_numpy(images[index].reshape(-1) / 255).float())
    assert set(train_set.indices).isdisjoint(test_set.indices)
    assert train_set.indices == pathfinder(tmp_path, seed=3)[0].indices  # seeded


def test_a_missing_pathfinder_image_is_named(tmp_path) -> None:
    _pathfinder(tmp_path, 3)
    (tmp_path / "imgs" / "0" / "sample_1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"sample_1\.png is missing"):
        load_task("pathfinder", tmp_path)


def test_the_two_tower_classifier_shares_its_stack_and_checks_shapes(randn) -> None:
    model = SequenceClassifier(5, 2, s4d_block, d_model=8, layers=1, pairs=True).double()
    x = randn(3, 2, 16, 5)
    logits = model(x)
    assert logits.shape == (3, 2)
    single = SequenceClassifier(5, 2, s4d_block, d_model=8, layers=1).double()
    single.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("decoder")}, strict=False)
    assert torch.allclose(model._pooled(x[:, 0], None), single._pooled(x[:, 0], None))  # one stack for both towers
    with pytest.raises(ValueError, match=r"\[B, 2, L, d_input\]"):
        model(randn(3, 16, 5))


def test_retrieval_learns_whether_two_documents_match(tmp_path) -> None:
    """Related (1) when both documents repeat the same letter: learnable only from both towers
    together (through their product); every one of the four test pairs is right after training,
    where chance gets half."""
    pairs = [("a", "a"), ("z", "z"), ("a", "z"), ("z", "a")]

    def line(i: int, a: str, b: str, length: int) -> str:
        return f"{int(a == b)}\tp{i}\tq{i}\t{a * length}\t{b * length}"

    train_lines = [line(i, a, b, 3000 + 100 * i) for i, (a, b) in enumerate(pairs * 2)]
    _aan(tmp_path, {"train": train_lines, "test": [line(i, a, b, 2500 + 300 * i) for i, (a, b) in enumerate(pairs)]})
    # LayerNorm: BatchNorm's running statistics would not settle in the few steps of 7 training items
    config = TrainConfig(task="lra-retrieval", model="s4d", data_dir=str(tmp_path), d_model=4, d_state=2, layers=1,
                         norm="layer", epochs=20, batch=4, lr=0.05)  # fmt: skip
    history = train(config, tmp_path / "run", progress=False)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"] and np.isfinite(history[-1]["loss"])
    assert history[-1]["test_accuracy"] == 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [("0.7\ta\tb\tx\ty", r"new_aan_pairs\.train\.tsv:2: label '0.7' is not 0 or 1"),
     ("5\ta\tb\tx\ty", r"new_aan_pairs\.train\.tsv:2: label '5' is not 0 or 1"),
     ("yes\ta\tb\tx\ty", r"new_aan_pairs\.train\.tsv:2: label 'yes' is not 0 or 1"),
     ("1\ta\tb\tx", r"new_aan_pairs\.train\.tsv:2: 4 fields; a line holds label, id1, id2, text1, text2")],
)  # fmt: skip
def test_a_bad_aan_line_is_refused_naming_its_file_and_line(line, message, tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tp\tq", line], "test": ["0\te\tf\tp\tq"]})
    with pytest.raises(ValueError, match=message):
        load_task("lra-retrieval", tmp_path)


def test_aan_reading_leaves_the_csv_field_limit_alone(tmp_path) -> None:
    """A document longer than csv's default field limit (131072) is read, and the process-wide
    limit is left as it was."""
    previous = csv.field_size_limit(131072)
    try:
        _aan(tmp_path, {"train": ["1\ta\tb\t" + "x" * 200_000 + "\ty"], "test": ["0\te\tf\tp\tq"]})
        train_set, _ = aan_retrieval(tmp_path)
        assert train_set.tokens.shape == (1, 2, RETRIEVAL_LENGTH) and csv.field_size_limit() == 131072
    finally:
        csv.field_size_limit(previous)


def test_an_empty_aan_split_is_refused(tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tp\tq"], "test": []})
    with pytest.raises(ValueError, match=r"new_aan_pairs\.test\.tsv holds no items"):
        load_task("lra-retrieval", tmp_path)


def test_non_utf8_text_is_refused_naming_its_file_and_line(tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tp\tq"], "test": ["0\te\tf\tp\tq"]})
    (tmp_path / "new_aan_pairs.test.tsv").write_bytes(b"0\te\tf\tp\tq\n1\te\tf\tp\t\xff\xfe\n")
    with pytest.raises(ValueError, match=r"new_aan_pairs\.test\.tsv:2: not UTF-8 text \(byte 0xff\)"):
        load_task("lra-retrieval", tmp_path)
    _imdb(tmp_path / "imdb")
    (tmp_path / "imdb" / "test" / "pos" / "0_7.txt").write_bytes(b"fine\nstill fine\nnot \xc3(")
    with pytest.raises(ValueError, match=r"test/pos/0_7\.txt:3: not UTF-8 text \(byte 0xc3\)"):
        load_task("lra-text", tmp_path / "imdb")
    _pathfinder(tmp_path / "pf", 3)
    (tmp_path / "pf" / "metadata" / "0.npy").write_bytes(b"imgs/0 sample_0.png 0 1\n\x80\n")
    with pytest.raises(ValueError, match=r"metadata/0\.npy:2: not UTF-8 text \(byte 0x80\)"):
        load_task("pathfinder", tmp_path / "pf")


def test_a_fifo_given_as_a_text_file_is_refused_without_blocking(tmp_path, outcome_within) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tp\tq"]})
    os.mkfifo(tmp_path / "new_aan_pairs.test.tsv")  # opening it for reading would block
    error = outcome_within(20, load_task, "lra-retrieval", tmp_path)
    assert isinstance(error, ValueError) and "new_aan_pairs.test.tsv is not a regular file" in str(error)


def _metadata(root, lines: list[str]) -> None:
    (root / "metadata" / "0.npy").write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize(
    ("line", "message"),
    [("imgs/0 sample_1.png 0 3 8 1.5", r"0\.npy:2: label '3' is not 0 or 1"),
     ("../outside x.png 0 1", r"0\.npy:2: the image path '\.\./outside/x\.png' leaves the data folder"),
     ("imgs/0 ../../x.png 0 1", r"0\.npy:2: the image path 'imgs/0/\.\./\.\./x\.png' leaves the data folder"),
     ("/etc passwd 0 1", r"0\.npy:2: the image path '/etc/passwd' leaves the data folder"),
     ("imgs/0 sample_1.png", r"0\.npy:2: 2 fields; a line holds subdir, file, _, label"),
     ("imgs/0 big.png 0 1", r"0\.npy:2: .*big\.png is 9x8, the first image 8x8"),
     ("imgs/0 junk.png 0 1", r"0\.npy:2: .*junk\.png is not a readable image")],
    ids=["label", "parent_folder", "parent_in_name", "absolute", "short_line", "other_size", "not_an_image"],
)  # fmt: skip
def test_a_bad_pathfinder_line_is_refused_naming_its_file_and_line(line, message, tmp_path) -> None:
    _pathfinder(tmp_path / "pf", 3)
    (tmp_path / "outside").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(tmp_path / "outside" / "x.png")
    Image.fromarray(np.zeros((8, 9), np.uint8), mode="L").save(tmp_path / "pf" / "imgs" / "0" / "big.png")
    (tmp_path / "pf" / "imgs" / "0" / "junk.png").write_bytes(b"not a png")
    _metadata(tmp_path / "pf", ["imgs/0 sample_0.png 0 1 8 1.5", line])
    with pytest.raises(ValueError, match=message):
        load_task("pathfinder", tmp_path / "pf")


def test_too_few_pathfinder_images_for_a_split_are_refused(tmp_path) -> None:
    _pathfinder(tmp_path, 3)
    _metadata(tmp_path, ["imgs/0 sample_0.png 0 1"])
    with pytest.raises(ValueError, match="lists 1 images; a train/test split needs 2"):
        load_task("pathfinder", tmp_path)
