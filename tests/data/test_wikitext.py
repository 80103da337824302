"""The WikiText reader: vocabulary, windows, and its files as untrusted input."""

from __future__ import annotations

import gzip

import pytest

from spikessm_snn.data.wikitext import wikitext


def _write(root, texts: dict[str, bytes]) -> list:
    paths = []
    for split in ("train", "valid", "test"):
        path = root / f"wiki.{split}.tokens"
        path.write_bytes(texts.get(split, b"the cat sat on the mat .\n" * 3))
        paths.append(path)
    return paths


def test_windows_follow_the_text_and_its_vocabulary(tmp_path) -> None:
    paths = _write(tmp_path, {"train": b"a b a\nc a\n", "test": b"a d c\n"})
    train, test, vocab = wikitext(paths, context=2)
    # train words: a b a <eos> c a <eos>; by frequency then first appearance: a, <eos>, b, c, then <unk>
    assert vocab == 5
    assert train.tensors[0].tolist() == [[0, 2], [0, 1], [3, 0]]
    assert train.tensors[1].tolist() == [[2, 0], [1, 3], [0, 1]]
    assert test.tensors[0].tolist() == [[0, 4]] and test.tensors[1].tolist() == [[4, 3]]  # d is unknown


def test_non_utf8_and_too_short_files_are_named(tmp_path) -> None:
    paths = _write(tmp_path, {"test": b"fine line\nbad \xe9 line\n"})
    with pytest.raises(ValueError, match=r"wiki\.test\.tokens:2: not UTF-8 text \(byte 0xe9\)"):
        wikitext(paths, context=2)
    paths = _write(tmp_path, {"test": b""})
    with pytest.raises(ValueError, match=r"wiki\.test\.tokens: 0 tokens are fewer than one window of 3"):
        wikitext(paths, context=2)


def test_a_compressed_file_is_read_decompressed(tmp_path) -> None:
    paths = _write(tmp_path, {})
    plain = wikitext(paths, context=3)
    with gzip.open(tmp_path / "wiki.train.tokens.gz", "wb") as f:
        f.write(paths[0].read_bytes())
    paths[0] = tmp_path / "wiki.train.tokens.gz"
    compressed = wikitext(paths, context=3)
    assert compressed[2] == plain[2] and compressed[0].tensors[0].tolist() == plain[0].tensors[0].tolist()
