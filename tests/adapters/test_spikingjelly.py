"""SpikingJelly nodes, run on whichever spikingjelly is importable (2.0.0 or 0.0.0.0.14:
scripts/test.sh runs this file on both)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

import spikessm_snn  # noqa: E402
from spikessm_snn.adapters.spikingjelly import ResetLIFNode, SRRNode  # noqa: E402

NODES = [lambda **kw: SRRNode(tau=0.6, tau_r=0.7, v_th=0.5, **kw), lambda **kw: ResetLIFNode(tau=0.5, **kw)]


def _net(node_factory) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(6, 5), node_factory(), layer.Linear(5, 4), node_factory()).double()
    for linear in (net[0], net[2]):
        nn.init.normal_(linear.weight, std=1.5)
    return net


def test_reports_the_spikingjelly_version_under_test() -> None:
    import spikingjelly

    print("spikingjelly from", spikingjelly.__file__)
    assert hasattr(functional, "reset_net") and hasattr(functional, "set_step_mode")


@pytest.mark.parametrize("node_factory", NODES)
def test_single_and_multi_step_networks_agree(node_factory, randn) -> None:
    net = _net(node_factory)
    x = randn(30, 3, 6, scale=2.0)
    functional.set_step_mode(net, "s")
    out_s = torch.stack([net(x_t) for x_t in x])
    v_s = net[1].v.clone()
    functional.reset_net(net)
    assert net[1].v == 0.0
    functional.set_step_mode(net, "m")
    out_m = net(x)  # Linear on [T, B, 6] vs [B, 6]: equal up to the matmul's rounding
    assert torch.equal(out_s, out_m) and torch.allclose(v_s, net[1].v, rtol=0, atol=1e-12)
    assert 0 < out_m.mean() < 1
    functional.reset_net(net)  # state carries across calls until reset
    assert torch.equal(torch.cat([net(x[:11]), net(x[11:])]), out_m)


def test_multi_step_matches_a_plain_loop_of_our_neuron(randn) -> None:
    node = SRRNode(step_mode="m", store_v_seq=True).double()
    x = randn(25, 2, 3, scale=2.0)
    spikes = node(x)
    result = spikessm_snn.SRRNeuron().double()(x, record=True)
    assert torch.equal(spikes, result.spikes)
    assert torch.equal(node.v_seq, result.v_seq) and torch.equal(node.r_seq, result.r_seq)


def test_monitors_see_every_node(randn) -> None:
    pytest.importorskip("tensorboard", reason="spikingjelly's monitor module imports tensorboard")
    from spikingjelly.activation_based import monitor

    net = _net(NODES[0])
    functional.set_step_mode(net, "m")
    outputs = monitor.OutputMonitor(net, instance=SRRNode)
    potentials = monitor.AttributeMonitor("v", pre_forward=False, net=net, instance=SRRNode)
    x = randn(10, 2, 6, scale=2.0)
    y = net(x)
    assert len(outputs.records) == 2 and torch.equal(outputs.records[1], y)
    assert len(potentials.records) == 2 and potentials.records[0].shape == (2, 5)
    outputs.remove_hooks()
    potentials.remove_hooks()


def test_set_backend_and_supported_backends() -> None:
    net = nn.Sequential(layer.Linear(3, 3), SRRNode(step_mode="m"), ResetLIFNode(step_mode="m"))
    assert "torch" in net[1].supported_backends
    spikessm_snn.set_backend(net, "torch")
    assert net[1].backend == "torch" and net[2].backend == "torch"
    with pytest.raises(ValueError, match="unknown backend"):
        spikessm_snn.set_backend(net, "nope")
    if hasattr(functional, "set_backend"):  # spikingjelly 0.0.0.0.14's own function sees our nodes too
        functional.set_backend(net, "torch")
        assert net[1].backend == "torch"


def test_training_through_nodes_reaches_every_trainable_constant(randn) -> None:
    node = SRRNode(shape=(5,), learn_tau=True, learn_tau_r=True, learn_u_th=True, learn_v_th=True, step_mode="m")
    net = nn.Sequential(layer.Linear(6, 5), node)
    net(randn(20, 4, 6, dtype=torch.float32, scale=2.0)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sits_beside_spikingjelly_neurons(randn) -> None:
    net = nn.Sequential(layer.Linear(4, 4), neuron.LIFNode(), layer.Linear(4, 4), SRRNode())
    functional.set_step_mode(net, "m")
    assert net(randn(8, 2, 4, dtype=torch.float32, scale=2.0)).shape == (8, 2, 4)
    functional.reset_net(net)


def test_bad_input_through_the_node(randn) -> None:
    node = SRRNode(step_mode="m")
    with pytest.raises(ValueError, match="NaN or inf"):
        node(torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="unknown backend"):
        node.backend = "nope"
