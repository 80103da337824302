"""Length-bucketed batches: every item once per epoch, similar lengths together, padded per batch,
the same global batches for any number of processes, seeded."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from spikessm_snn.data.batching import BucketSampler, Collate, batches, hold_out, sequence_lengths
from spikessm_snn.data.tokens import OneHotTokens


def _tokens(lengths: list[int], vocab: int = 6) -> OneHotTokens:
    generator = torch.Generator().manual_seed(len(lengths))
    tokens = torch.zeros(len(lengths), max(lengths), dtype=torch.uint8)
    for i, n in enumerate(lengths):
        tokens[i, :n] = torch.randint(1, vocab, (n,), generator=generator, dtype=torch.uint8)
    return OneHotTokens(tokens, torch.arange(len(lengths)) % 3, vocab)


def test_each_epoch_draws_every_item_once_in_batches_of_similar_length() -> None:
    lengths = torch.randint(10, 2000, (640,), generator=torch.Generator().manual_seed(0))
    sampler = BucketSampler(lengths, 640, batch=32, seed=5, pool=10)
    epoch = [list(b) for b in sampler]
    assert sorted(i for b in epoch for i in b) == list(range(640)) and len(epoch) == len(sampler) == 20
    padded = sum(32 * max(lengths[b]) for b in epoch)
    unsorted = sum(32 * lengths[i : i + 32].max() for i in range(0, 640, 32))
    assert padded < 0.7 * unsorted  # far fewer padded steps than batches of random lengths
    sampler.set_epoch(1)
    assert [list(b) for b in sampler] != epoch
    sampler.set_epoch(0)
    assert [list(b) for b in sampler] == epoch  # seeded by (seed, epoch)


@pytest.mark.parametrize("lengths", [None, torch.arange(100) % 37 + 1])
def test_processes_take_disjoint_shares_of_the_same_global_batches(lengths) -> None:
    whole = [b for b in BucketSampler(lengths, 100, batch=8, seed=2)]
    shares = [[b for b in BucketSampler(lengths, 100, batch=8, world=4, rank=r, seed=2)] for r in range(4)]
    assert [list(itertools.chain(*(s[k] for s in shares))) for k in range(len(whole))] == whole
    assert len(whole) == 12  # the last 4 items do not make a batch


def test_a_batch_is_cut_to_its_longest_sequence_and_keeps_the_lengths() -> None:
    data = _tokens([5, 30, 12, 7])
    x, lengths, y = Collate(Subset(data, [3, 0, 2]))([0, 1, 2])
    assert x.shape == (3, 16, 6) and lengths.tolist() == [7, 5, 12] and y.tolist() == [0, 0, 2]
    assert torch.equal(x[0].argmax(-1)[:7], data.tokens[3, :7].long()) and (x[0, 7:].argmax(-1) == 0).all()
    assert torch.equal(sequence_lengths(Subset(data, [1, 2])), torch.tensor([30, 12]))


def test_fixed_length_data_is_stacked_without_lengths(randn) -> None:
    data = TensorDataset(randn(10, 4, 1), torch.arange(10))
    batch = next(iter(batches(data, 4, shuffle=False)))
    assert batch.lengths is None and torch.equal(batch.inputs, data.tensors[0][:4])
    assert [len(b.targets) for b in batches(data, 4, shuffle=False)] == [4, 4, 2]  # evaluation keeps every item


def test_bad_batches_and_splits_are_refused(randn) -> None:
    data = TensorDataset(randn(10, 4, 1), torch.arange(10))
    with pytest.raises(ValueError, match="larger than the 10 training items"):
        batches(data, 16, shuffle=True)
    with pytest.raises(ValueError, match="divide evenly over 3 processes"):
        BucketSampler(None, 10, batch=4, world=3)
    with pytest.raises(ValueError, match="empty"):
        batches(TensorDataset(randn(0, 4, 1), torch.arange(0)), 4, shuffle=False)
    rest, held = hold_out(data, 0.2, seed=1)
    assert sorted(rest.indices + held.indices) == list(range(10)) and len(held) == 2
