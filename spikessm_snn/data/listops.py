"""LRA ListOps, re-implemented from the published generator (``data.md``), seeded and deterministic.

A node is a value 0-9 with probability 0.75 (always at ``max_depth``), else an operator
(``[MIN``, ``[MAX``, ``[MED`` = int(median), ``[SM`` = sum mod 10) with 2..``max_args`` children,
closed by ``]``. Trees whose length (values + 2 per operator) lies strictly between
``min_length`` and ``max_length`` are kept, without duplicates. Files ``basic_{train,val,test}.tsv``
with header ``Source\\tTarget``; ``Source`` puts parentheses around each nested pair, as the
published code does. Unlike it (which splits a Python set, whose order changes between runs),
the first unique trees of the seeded stream form train, then validation, then test, so the
files are byte-identical for a fixed seed.

Tokens as the S4 code base reads them: ``]`` becomes ``X``, parentheses are dropped, split on
whitespace, an end token appended, at most 2048 tokens.
"""

from __future__ import annotations

import csv
import random
import statistics
from pathlib import Path

import torch

from .tokens import OneHotTokens, pad

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
VOCAB = ("<pad>", "<end>", *map(str, range(10)), *OPERATORS, "X")
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
MAX_TOKENS = 2048
SPLITS = ("train", "val", "test")

Tree = int | tuple


def generate_tree(rng: random.Random, depth: int = 1, max_depth: int = 10, max_args: int = 10) -> tuple[Tree, int]:
    """``(tree, length)``; a tree is a value or the nested pairs ``((((op, a), b), ...), "]")``."""
    if (rng.random() if depth < max_depth else 1.0) > 0.25:
        return rng.choice(range(10)), 1
    length, children = 2, []
    for _ in range(rng.randint(2, max_args)):
        child, child_length = generate_tree(rng, depth + 1, max_depth, max_args)
        children.append(child)
        length += child_length
    tree: Tree = (rng.choice(OPERATORS), children[0])
    for child in children[1:]:
        tree = (tree, child)
    return (tree, END), length


def to_string(tree: Tree) -> str:
    if isinstance(tree, (str, int)):
        return str(tree)
    return f"( {to_string(tree[0])} {to_string(tree[1])} )"


def evaluate(expression: str) -> int:
    """The value of a ``Source`` expression."""
    stack: list[list] = []
    for token in expression.replace("(", " ").replace(")", " ").split():
        if token in OPERATORS:
            stack.append([token])
        elif token == END:
            op, *args = stack.pop()
            value = {"[MIN": min, "[MAX": max, "[MED": lambda a: int(statistics.median(a)),
                     "[SM": lambda a: sum(a) % 10}[op](args)  # fmt: skip
            if not stack:
                return value
            stack[-1].append(value)
        elif not stack:
            return int(token)
        else:
            stack[-1].append(int(token))
    raise ValueError(f"unbalanced ListOps expression: {expression[:80]}")


def generate_files(out: Path, train: int = 96_000, val: int = 2_000, test: int = 2_000, seed: int = 0,
                   min_length: int = 500, max_length: int = 2000) -> list[Path]:  # fmt: skip
    """Write ``basic_{train,val,test}.tsv`` under ``out``; return their paths."""
    rng, seen, rows = random.Random(seed), set(), []
    while len(rows) < train + val + test:
        tree, length = generate_tree(rng)
        if min_length < length < max_length:
            source = to_string(tree)
            if source not in seen:
                seen.add(source)
                rows.append((source, evaluate(source)))
    out.mkdir(parents=True, exist_ok=True)
    bounds = {"train": (0, train), "val": (train, train + val), "test": (train + val, train + val + test)}
    paths = []
    for split, (lo, hi) in bounds.items():
        path = out / f"basic_{split}.tsv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["Source", "Target"])
            writer.writerows(rows[lo:hi])
        paths.append(path)
    return paths


def tokenize(source: str) -> list[int]:
    tokens = source.replace("]", "X").replace("(", " ").replace(")", " ").split()[: MAX_TOKENS - 1]
    return [TOKEN_ID[t] for t in tokens] + [TOKEN_ID["<end>"]]


class ListOpsDataset(OneHotTokens):
    """One split: token ids padded to the longest sequence; items are one-hot ``[L, V]``, label."""

    def __init__(self, path: Path) -> None:
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows or rows[0] != ["Source", "Target"]:
            raise ValueError(f"{path} is not a ListOps file (header 'Source<TAB>Target')")
        tokens = pad([tokenize(source) for source, _ in rows[1:]], torch.uint8)
        super().__init__(tokens, torch.tensor([int(target) for _, target in rows[1:]]), len(VOCAB))
