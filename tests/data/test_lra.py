"""LRA Text, Retrieval and Pathfinder readers on small stand-ins in the release layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from spikessm_snn.data.lra import BYTE_VOCAB, RETRIEVAL_LENGTH
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
    train_set, test_set, d_input, classes = load_task("lra-text", tmp_path)
    assert (len(train_set), len(test_set), d_input, classes) == (3, 2, BYTE_VOCAB, 2)
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
    train_set, test_set, d_input, classes = load_task("lra-retrieval", tmp_path)
    x, y = train_set[1]
    assert x.shape == (2, RETRIEVAL_LENGTH, BYTE_VOCAB) and d_input == BYTE_VOCAB and classes == 2
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
    train_set, test_set, d_input, classes = load_task("pathfinder", tmp_path, seed=3)
    assert (len(train_set), len(test_set), d_input, classes) == (18, 2, 1, 2)
    index = train_set.indices[0]
    x, y = train_set[0]
    assert x.shape == (64, 1) and int(y) == index % 2
    assert torch.allclose(x[:, 0], torch.from_numpy(images[index].reshape(-1) / 255).float())
    assert set(train_set.indices).isdisjoint(test_set.indices)
    assert train_set.indices == load_task("pathfinder", tmp_path, seed=3)[0].indices  # seeded


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
    assert torch.allclose(model._pooled(x[:, 0]), single._pooled(x[:, 0]))  # one stack for both towers
    with pytest.raises(ValueError, match=r"\[B, 2, L, d_input\]"):
        model(randn(3, 16, 5))


def test_retrieval_trains_end_to_end(tmp_path) -> None:
    _aan(tmp_path, {"train": ["1\ta\tb\tsame\tsame", "0\tc\td\tone\tother"] * 2, "test": ["1\te\tf\tp\tp"]})
    config = TrainConfig(task="lra-retrieval", model="s4d", data_dir=str(tmp_path), d_model=4, d_state=2, layers=1,
                         epochs=1, batch=2)  # fmt: skip
    history = train(config, tmp_path / "run", progress=False)
    assert history[0]["test_accuracy"] in (0.0, 1.0) and np.isfinite(history[0]["loss"])
