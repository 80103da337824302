"""Batches for training and evaluation: bucketed by length, padded per batch, shared out over processes.

A batch is ``Batch(inputs, lengths, targets)``; ``lengths`` (``[B]``, or ``[B, 2]`` for pairs) counts
each sequence's own steps, ``None`` where every sequence has the task's full length. Token tasks
(``OneHotTokens``, directly or through ``Subset``) are cut to the longest sequence of each batch.

``BucketSampler`` draws, every epoch, a seeded permutation of the items; for variable-length data
it sorts each pool of ``pool`` consecutive batches by length, so a batch holds sequences of
similar length (about half the padded steps on ListOps), and shuffles the batches. Batch ``k``
is the same set for any number of processes: process ``rank`` takes its ``batch / world`` share.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from .tokens import OneHotTokens


class Batch(NamedTuple):
    inputs: Tensor
    lengths: Tensor | None
    targets: Tensor

    def to(self, device: torch.device | str) -> Batch:
        move = {"device": device, "non_blocking": True}
        lengths = None if self.lengths is None else self.lengths.to(**move)
        return Batch(self.inputs.to(**move), lengths, self.targets.to(**move))


def _token_source(dataset: Dataset) -> tuple[OneHotTokens | None, list[int] | None]:
    """The ``OneHotTokens`` under ``dataset`` (through ``Subset``s) and the index map into it."""
    mapping: list[int] | None = None
    while isinstance(dataset, Subset):
        indices = list(dataset.indices)
        mapping = indices if mapping is None else [indices[i] for i in mapping]
        dataset = dataset.dataset
    return (dataset, mapping) if isinstance(dataset, OneHotTokens) else (None, None)


def sequence_lengths(dataset: Dataset) -> Tensor | None:
    """Each item's length (the longer of a pair), or ``None`` for fixed-length data."""
    tokens, mapping = _token_source(dataset)
    if tokens is None:
        return None
    lengths = tokens.lengths if tokens.lengths.dim() == 1 else tokens.lengths.amax(-1)
    return lengths if mapping is None else lengths[torch.as_tensor(mapping, dtype=torch.long)]


class Collate:
    """Item indices -> ``Batch`` of ``dataset`` (picklable, for loader workers)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.tokens, self.mapping = _token_source(dataset)

    def __call__(self, indices: list[int]) -> Batch:
        if self.tokens is not None:
            return Batch(*self.tokens.batch(indices if self.mapping is None else [self.mapping[i] for i in indices]))
        inputs, targets = zip(*(self.dataset[i] for i in indices), strict=True)
        return Batch(torch.stack(inputs), None, torch.stack(targets))


class BucketSampler(Sampler[list[int]]):
    """This process's share of every global batch of an epoch (see the module docstring).

    ``shuffle=False`` (evaluation): items in order of length, every batch kept, ``world`` must be 1.
    """

    def __init__(self, lengths: Tensor | None, items: int, batch: int, world: int = 1, rank: int = 0,
                 seed: int = 0, shuffle: bool = True, pool: int = 64) -> None:  # fmt: skip
        if batch < 1 or batch % world or not 0 <= rank < world:
            raise ValueError(f"batch {batch} must be >= 1 and divide evenly over {world} processes (rank {rank})")
        if shuffle and items < batch:
            raise ValueError(f"a batch of {batch} is larger than the {items} training items")
        if not shuffle and world != 1:
            raise ValueError("evaluation batches are not shared out: use world=1")
        self.lengths, self.items, self.batch, self.world, self.rank = lengths, items, batch, world, rank
        self.seed, self.shuffle, self.pool, self.epoch = seed, shuffle, pool, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.items // self.batch if self.shuffle else -(-self.items // self.batch)

    def _global_batches(self) -> list[Tensor]:
        if not self.shuffle:
            order = torch.arange(self.items) if self.lengths is None else torch.argsort(self.lengths, stable=True)
            return list(order.split(self.batch))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.items, generator=generator)[: len(self) * self.batch]
        if self.lengths is None:
            return list(order.split(self.batch))
        pools = [p[torch.argsort(self.lengths[p], stable=True)] for p in order.split(self.batch * self.pool)]
        batches = list(torch.cat(pools).split(self.batch))
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def __iter__(self):
        share = self.batch // self.world
        for batch in self._global_batches():
            yield batch[self.rank * share : (self.rank + 1) * share].tolist()


def batches(dataset: Dataset, batch: int, *, shuffle: bool, seed: int = 0, world: int = 1, rank: int = 0,
            workers: int = 0, pin_memory: bool = False) -> DataLoader:  # fmt: skip
    """A loader of ``Batch``es (call ``loader.batch_sampler.set_epoch(e)`` before each training epoch)."""
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    sampler = BucketSampler(sequence_lengths(dataset), len(dataset), batch, world, rank, seed, shuffle)
    return DataLoader(range(len(dataset)), batch_sampler=sampler, collate_fn=Collate(dataset), num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=workers > 0)  # fmt: skip


def hold_out(dataset: Dataset, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """A seeded split of ``dataset`` into ``(rest, held out)``, ``fraction`` of it held out (at least one item)."""
    if not 0 < fraction < 1 or len(dataset) < 2:
        raise ValueError(f"cannot hold out {fraction} of {len(dataset)} items")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    cut = max(1, round(fraction * len(dataset)))
    return Subset(dataset, order[cut:]), Subset(dataset, order[:cut])
