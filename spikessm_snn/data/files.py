"""Reading data files the user gives as untrusted input: bounded, named in every error.

A data file must be a regular file (a FIFO would block the reader, ``/dev/zero`` never ends) of
at most ``MAX_FILE_BYTES``; a ``.gz`` file is read up to ``GZIP_RATIO`` times its own size (a
gzip bomb stops there, not after eating the memory); text must be UTF-8. Every error names
the file, and the line where there is one. Labels are checked against the task's classes and
an empty split is refused, so a bad file fails when it is read, not epochs later.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from torch import Tensor

MAX_FILE_BYTES = 2**33  # 8 GiB: far above any file of the releases read here
GZIP_RATIO = 64  # real data compresses by 3-10x; zeros by 1000x
_CHUNK = 2**20


def regular_file(path: Path) -> int:
    """The size of ``path`` if it (or what it links to) is a regular file of at most ``MAX_FILE_BYTES``."""
    try:
        info = os.stat(path)  # follows links; does not open, so a FIFO cannot block
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file (a folder, FIFO or device); give the data file itself")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} holds {info.st_size} bytes, more than the {MAX_FILE_BYTES} read from one data file")
    return info.st_size


def readable_bytes(path: Path) -> int:
    """How many bytes reading ``path`` may give: its size, or for ``.gz`` ``GZIP_RATIO`` times it."""
    size = regular_file(path)
    return min(MAX_FILE_BYTES, GZIP_RATIO * size + _CHUNK) if path.suffix == ".gz" else size


@contextmanager
def open_data(path: Path) -> Iterator[BinaryIO]:
    """A regular data file opened for binary reading (decompressed if ``.gz``); read errors,
    corrupt compression included, become one ``ValueError`` naming the file."""
    regular_file(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            yield f
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} cannot be read: {error}") from error


def read_bytes(path: Path) -> bytes:
    """The content of a regular file, decompressed if it ends in ``.gz``, at most ``readable_bytes``."""
    limit = readable_bytes(path)
    chunks, size = [], 0
    with open_data(path) as f:
        while chunk := f.read(min(_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"{path} decompresses to more than {limit} bytes ({GZIP_RATIO}x its size)")
    return b"".join(chunks)


def decode(raw: bytes, path: Path, first_line: int = 1) -> str:
    """``raw`` as UTF-8, or an error naming the file, the line and the offending byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + raw.count(b"\n", 0, error.start)
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[error.start]:02x})") from None


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line without its end)`` for each line of a UTF-8 text file."""
    for number, line in enumerate(io.BytesIO(read_bytes(path)), 1):
        yield number, decode(line.rstrip(b"\n").removesuffix(b"\r"), path, number)


def check_labels(labels: Tensor, classes: int, source: object) -> None:
    """Every label is in ``0 .. classes - 1``; else an error naming ``source``, the item and its label."""
    outside = (labels < 0) | (labels >= classes)
    if bool(outside.any()):
        index = int(outside.nonzero()[0, 0])
        raise ValueError(f"{source}: item {index} has label {int(labels[index])}, outside 0..{classes - 1}")


def check_not_empty(count: int, source: object) -> None:
    if count == 0:
        raise ValueError(f"{source} holds no items")
