"""snnTorch-style classes: snnTorch's calling conventions, and a short training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
from snntorch import surrogate as snn_surrogate  # noqa: E402

from spikessm_snn import ResetLIFNeuron, SRRNeuron  # noqa: E402
from spikessm_snn.adapters.snntorch import SRR, ResetLIF, reset  # noqa: E402


def test_leaky_style_calls_and_state(randn) -> None:
    lif = ResetLIF(beta=0.5, threshold=0.8).double()
    x = randn(20, 3, 4, scale=1.5)
    spk, mem = lif(x[0])
    assert spk.shape == mem.shape == (3, 4)
    lif.reset_mem()
    steps = [lif(x_t)[0] for x_t in x]  # state kept inside between calls
    reference = ResetLIFNeuron(tau=0.5, v_threshold=0.8).double()(x, record=True)
    assert torch.equal(torch.stack(steps), reference.spikes)
    lif.reset_mem()
    spk_seq, mem_seq = lif.forward_sequence(x)
    assert torch.equal(spk_seq, reference.spikes) and torch.equal(mem_seq, reference.v_seq)
    mem = torch.zeros(3, 4, dtype=torch.float64)  # explicit state, snnTorch's other idiom
    out = []
    for x_t in x:
        spk, mem = lif(x_t, mem)
        out.append(spk)
    assert torch.equal(torch.stack(out), reference.spikes)


def test_srr_returns_both_states_and_carries_them(randn) -> None:
    srr = SRR(beta=0.6, beta_r=0.8, threshold=1.0, refractory=0.5).double()
    x = randn(30, 2, 3, scale=2.0)
    first = srr.forward_sequence(x[:13])
    spk2, mem2, ref2 = srr.forward_sequence(x[13:])
    reference = SRRNeuron(0.6, 0.8, 1.0, 0.5).double()(x, record=True)
    assert torch.equal(torch.cat([first[0], spk2]), reference.spikes)
    assert torch.equal(ref2, reference.r_seq[13:]) and torch.equal(mem2, reference.v_seq[13:])
    with pytest.raises(TypeError, match="pass all of mem, ref or none"):
        srr(x[0], torch.zeros(2, 3, dtype=torch.float64))


def test_init_hidden_in_sequential_and_reset(randn) -> None:
    net = nn.Sequential(nn.Linear(4, 6), SRR(init_hidden=True), nn.Linear(6, 2), snn.Leaky(beta=0.9, init_hidden=True))
    x = randn(15, 3, 4, dtype=torch.float32, scale=2.0)
    first = torch.stack([net(x_t) for x_t in x])
    reset(net)
    second = torch.stack([net(x_t) for x_t in x])
    assert torch.equal(first, second) and first.shape == (15, 3, 2)
    with pytest.raises(TypeError, match="must not be passed while init_hidden=True"):
        net[1](x[0], torch.zeros(3, 6), torch.zeros(3, 6))
    assert isinstance(net[1](torch.randn(3, 6)), torch.Tensor)
    out = SRR(init_hidden=True, output=True)(x[0])
    assert isinstance(out, tuple) and len(out) == 3


def test_accepts_snntorch_surrogates_on_the_reference_backend(randn) -> None:
    lif = ResetLIF(spike_grad=snn_surrogate.fast_sigmoid(slope=25))
    x = randn(10, 2, 3, dtype=torch.float32, scale=2.0).requires_grad_()
    spk, _ = lif.forward_sequence(x)
    spk.sum().backward()
    assert x.grad.abs().sum() > 0


def test_reset_mechanisms() -> None:
    assert ResetLIF(reset_mechanism="zero").neuron.hard_reset
    assert not ResetLIF(reset_mechanism="subtract").neuron.hard_reset
    with pytest.raises(ValueError, match="reset_mechanism must be one of"):
        SRR(reset_mechanism="zero")
    with pytest.raises(ValueError, match="reset_mechanism must be one of"):
        ResetLIF(reset_mechanism="none")


@pytest.mark.parametrize("neuron_cls", [SRR, ResetLIF])
def test_a_short_training_loop_reduces_the_loss(neuron_cls) -> None:
    """Rate-coded 2-class task: is the mean of the input positive? 60 Adam steps."""
    torch.manual_seed(0)
    kwargs = {"learn_threshold": True, "learn_beta": True}
    net = nn.Sequential(nn.Linear(8, 16), neuron_cls(init_hidden=True, shape=(16,), **kwargs), nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    x = torch.randn(20, 64, 8) + torch.randn(1, 64, 1)
    y = (x.mean(dim=(0, 2)) > 0).long()
    losses = []
    for _ in range(60):
        reset(net)
        logits = torch.stack([net(x_t) for x_t in x]).mean(0)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
