"""The spike recorder against a manual count, across ours, SpikingJelly's and snnTorch's neurons."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikessm_snn.adapters.spikingjelly import SRRNode
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.recorder import SpikeRecorder
from spikessm_snn.ssm import spike_ssm_block
from spikessm_snn.ssm.blocks import spike_rates

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402


def test_rates_equal_a_manual_count_in_a_mixed_spikingjelly_network(randn) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(6, 12), SRRNode(), layer.Linear(12, 8), neuron.LIFNode(tau=2.0))
    functional.set_step_mode(net, "m")
    for linear in (net[0], net[2]):
        nn.init.normal_(linear.weight, std=1.5)
    x = randn(40, 3, 6, dtype=torch.float32, scale=2.0)
    with SpikeRecorder(net) as recorder:
        net(x)
    functional.reset_net(net)
    hidden = net[1](net[0](x))
    functional.reset_net(net)
    out = net(x)
    assert recorder.rates() == pytest.approx({"1": float(hidden.detach().mean()), "3": float(out.detach().mean())})
    assert not net[1]._forward_hooks  # the hooks are gone after the recorder closes


def test_snntorch_neurons_and_ssm_blocks_are_recorded_once(randn) -> None:
    snn = pytest.importorskip("snntorch")
    net = nn.Sequential(nn.Linear(4, 8), snn.Leaky(beta=0.5, init_hidden=True))
    x = randn(5, 4, dtype=torch.float32, scale=3.0)
    with SpikeRecorder(net) as recorder:
        out = net(x)
    assert recorder.rates() == pytest.approx({"1": float(out.mean())})
    model = SequenceClassifier(1, 3, lambda d: spike_ssm_block(d, d_state=8), d_model=8, layers=2)
    with SpikeRecorder(model) as recorder:
        model(randn(2, 30, 1, dtype=torch.float32))
    assert list(recorder.rates()) == ["blocks.0.activation.neuron", "blocks.1.activation.neuron"]
    assert list(recorder.rates().values()) == pytest.approx(list(spike_rates(model).values()))
