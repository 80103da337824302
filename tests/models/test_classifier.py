"""The sequence classifier on the embedded digits: shapes, spike rates, bad input, it learns."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch.utils.data import DataLoader

from spikessm_snn.data import sequential_digits
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.ssm import s4d_block, spike_ssm_block, spiking_ssm_block
from spikessm_snn.ssm.blocks import reset_spike_counts, spike_rates


@pytest.mark.parametrize("norm", ["layer", "batch", "none"])
@pytest.mark.parametrize("prenorm", [False, True])
def test_shapes_and_per_layer_spike_rates(norm, prenorm, randn) -> None:
    model = SequenceClassifier(3, 5, partial(spike_ssm_block, d_state=8), d_model=16, layers=3, norm=norm,
                               prenorm=prenorm)  # fmt: skip
    assert model(randn(4, 40, 3, dtype=torch.float32)).shape == (4, 5)
    rates = spike_rates(model)
    assert list(rates) == [f"blocks.{i}.activation" for i in range(3)] and all(0 < r < 1 for r in rates.values())
    assert spike_rates(SequenceClassifier(3, 5, s4d_block, d_model=8, layers=2)) == {}


def test_norm_none_is_the_published_wiring_a_plain_residual_sum(randn) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(3, 4, partial(s4d_block, d_state=4), d_model=8, layers=2, norm="none").double()
    x = randn(2, 30, 3)
    h = model.encoder(x).transpose(1, 2)
    for block in model.blocks:
        h = h + block(h)
    assert torch.allclose(model(x), model.decoder(h.mean(-1)), rtol=0, atol=1e-12)
    assert not any("norms" in name for name, _ in model.named_parameters())
    with pytest.raises(ValueError, match="norm must be one of layer, batch, none"):
        SequenceClassifier(3, 4, s4d_block, norm="group")


def _padded(x: torch.Tensor, lengths: torch.Tensor, total: int, fill: torch.Tensor) -> torch.Tensor:
    """``x`` cut to each sequence's length and padded with ``fill`` values up to ``total`` steps."""
    out = fill[:, :total].clone()
    for i, n in enumerate(lengths.tolist()):
        out[i, :n] = x[i, :n]
    return out


@pytest.mark.parametrize("block", [s4d_block, spike_ssm_block, spiking_ssm_block], ids=lambda b: b.__name__)
@pytest.mark.parametrize(("norm", "prenorm", "training"), [("batch", False, True), ("batch", False, False),
                                                           ("layer", True, True)])  # fmt: skip
def test_the_logits_do_not_depend_on_the_padding_after_each_sequence(block, norm, prenorm, training, randn) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(3, 4, partial(block, d_state=4, bidirectional=True), d_model=8, layers=2, norm=norm,
                               prenorm=prenorm).double()  # fmt: skip
    model.train(training)
    lengths = torch.tensor([17, 40, 5, 29])
    x = randn(4, 40, 3)
    short = _padded(x, lengths, 40, torch.zeros(4, 40, 3, dtype=torch.float64))
    long = _padded(x, lengths, 97, 3 * randn(4, 97, 3))  # other padding: longer, and not zeros
    logits = model(short, lengths)
    assert torch.allclose(model(long, lengths), logits, rtol=0, atol=1e-9)
    assert not torch.allclose(model(long), model(short))  # without lengths the padding does reach the logits
    if block is not s4d_block:  # the spike rate counts the real steps alone
        reset_spike_counts(model)
        model(long, lengths)
        rates = spike_rates(model)
        reset_spike_counts(model)
        model(short, lengths)
        assert spike_rates(model) == pytest.approx(rates, rel=1e-12)


def test_pairs_take_a_length_per_document(randn) -> None:
    model = SequenceClassifier(3, 2, partial(s4d_block, d_state=4), d_model=8, layers=1, pairs=True).double().eval()
    x, lengths = randn(2, 2, 30, 3), torch.tensor([[30, 12], [7, 25]])
    changed = x.clone()
    changed[1, 0, 7:] = randn(23, 3)
    assert torch.allclose(model(changed, lengths), model(x, lengths), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"lengths must be \(2, 2\)"):
        model(x, lengths[:, 0])


def test_bad_input_and_settings_raise(randn) -> None:
    model = SequenceClassifier(3, 5, s4d_block, d_model=8, layers=1)
    with pytest.raises(ValueError, match=r"x must be \[B, L, d_input\]"):
        model(randn(4, 3, dtype=torch.float32))
    with pytest.raises(ValueError, match="norm must be"):
        SequenceClassifier(3, 5, s4d_block, d_model=8, layers=1, norm="group")
    with pytest.raises(ValueError, match="bad sizes"):
        SequenceClassifier(3, 1, s4d_block)


def test_a_small_spike_ssm_learns_the_embedded_digits() -> None:
    """A few CPU epochs: the test accuracy rises well above chance (10%)."""
    torch.manual_seed(0)
    train, test = sequential_digits()
    model = SequenceClassifier(1, 10, partial(spike_ssm_block, d_state=16), d_model=32, layers=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(6):
        for x, y in DataLoader(train, batch_size=64, shuffle=True):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    x, y = test.tensors
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.3, accuracy
