"""SpikingJelly nodes, run on whichever spikingjelly is importable (2.0.0 or 0.0.0.0.14:
scripts/test.sh runs this file on both): SpikingJelly's arguments and meanings, LIFNode spike for
spike, SpikingJelly's model zoo with our nodes, monitors, detach_net on every backend, reset_net."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import logging
import sys
import types

import pytest
import torch
from torch import nn

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402

import spikessm_snn  # noqa: E402
from spikessm_snn import BackendUnavailableError, Surrogate, available_backends  # noqa: E402
from spikessm_snn.adapters.spikingjelly import ResetLIFNode, SRRNode  # noqa: E402

OLD_SPIKINGJELLY = hasattr(functional, "set_backend")  # 0.0.0.0.14 has it, 2.0.0 dropped it
NODES = [lambda **kw: SRRNode(tau=2.5, tau_r=4.0, v_th=0.5, **kw), lambda **kw: ResetLIFNode(tau=2.0, **kw)]


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


# ---- SpikingJelly's arguments with SpikingJelly's meanings ----------------------------------


def test_tau_is_the_time_constant_and_decay_the_papers_per_step_factor() -> None:
    assert SRRNode(tau=2.0, tau_r=4.0).tau().item() == 0.5 and SRRNode(tau_r=4.0).tau_r().item() == 0.75
    assert SRRNode(decay=0.25, decay_r=0.75).tau().item() == 0.25
    assert ResetLIFNode(tau=8.0).tau().item() == 0.875
    assert ResetLIFNode(decay=0.125).tau().item() == 0.125
    assert ResetLIFNode().tau().item() == 0.125 and SRRNode().tau().item() == 0.5  # the papers' defaults
    assert ResetLIFNode(v_threshold=0.7).threshold().item() == pytest.approx(0.7)
    assert ResetLIFNode(v_reset=None).hard_reset is False and ResetLIFNode(v_reset=-0.5).v_reset == -0.5
    with pytest.raises(ValueError, match="time constant and must be > 1"):
        ResetLIFNode(tau=0.9)
    with pytest.raises(TypeError, match="not both"):
        SRRNode(tau=2.0, decay=0.5)
    with pytest.raises(ValueError, match="v_reset must be None"):
        SRRNode(v_reset=0.0)


@pytest.mark.parametrize("v_reset", [0.0, 0.4, -0.3, None])
@pytest.mark.parametrize("decay_input", [False, True])
@pytest.mark.parametrize("backend", ["torch", "pmbc"])
def test_equals_lif_node_spike_for_spike_with_the_same_arguments(v_reset, decay_input, backend, randn) -> None:
    """Hard reset to any v_reset (starting at and leaking toward it), soft reset, both decay_input."""
    kwargs = {"tau": 4.0, "decay_input": decay_input, "v_threshold": 0.75, "v_reset": v_reset}  # exact in float32
    ours = ResetLIFNode(**kwargs, step_mode="m", store_v_seq=True, backend=backend).double()
    theirs = neuron.LIFNode(**kwargs, step_mode="m", store_v_seq=True)
    x = randn(300, 4, 8, scale=1.5, mean=0.6 if decay_input else 0.2)
    spikes = ours(x)
    assert 0.05 < spikes.mean() < 0.6
    assert torch.equal(spikes, theirs(x))
    assert torch.allclose(ours.v_seq, theirs.v_seq, rtol=0, atol=1e-12)
    functional.reset_net(ours)
    functional.reset_net(theirs)
    assert ours.v == theirs.v == (0.0 if v_reset is None else v_reset)
    functional.set_step_mode(ours, "s")  # single steps, state carried inside
    functional.set_step_mode(theirs, "s")
    steps = torch.stack([ours(x_t) for x_t in x[:60]])
    assert torch.equal(steps, torch.stack([theirs(x_t) for x_t in x[:60]])) and steps.sum() > 0


def test_spikingjelly_surrogates_give_spikingjelly_gradients_on_every_backend(randn) -> None:
    names = [name for name in ("Sigmoid", "ATan", "Rect") if hasattr(surrogate, name)]
    x = randn(40, 3, 5, scale=1.5, mean=0.3)
    for name in names:
        theirs = neuron.LIFNode(tau=2.0, decay_input=False, surrogate_function=getattr(surrogate, name)())
        functional.set_step_mode(theirs, "m")
        x_theirs = x.clone().requires_grad_()
        theirs(x_theirs).sum().backward()
        ours = ResetLIFNode(tau=2.0, surrogate_function=getattr(surrogate, name)(), step_mode="m", backend="pmbc")
        assert isinstance(ours.spike_fn, Surrogate)
        x_ours = x.clone().requires_grad_()
        ours.double()(x_ours).sum().backward()
        assert x_theirs.grad.abs().sum() > 0
        assert torch.allclose(x_ours.grad, x_theirs.grad, rtol=1e-9, atol=1e-12), name
    other = SRRNode(surrogate_function=surrogate.SoftSign(), step_mode="m", backend="pmbc")
    with pytest.raises(BackendUnavailableError, match="surrogate"):
        other(x.float())
    other.backend = "torch"
    assert other(x.float()).shape == x.shape


# ---- SpikingJelly's model zoo, called as its documentation shows ------------------------------


def _zoo(module_name: str) -> types.ModuleType:
    """``spikingjelly.activation_based.model.<module_name>``. Its ResNet/VGG modules import
    torchvision only for ``load_state_dict_from_url`` (pretrained weights, torch.hub's function
    re-exported); PyPI's torchvision is built for a CUDA torch, so where none imports they get
    torch.hub's."""
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:
        for name in ("torchvision", "torchvision.models", "torchvision.models.utils"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["torchvision.models.utils"].load_state_dict_from_url = torch.hub.load_state_dict_from_url
    try:
        return importlib.import_module(f"spikingjelly.activation_based.model.{module_name}")
    except ModuleNotFoundError as error:
        if error.name == f"spikingjelly.activation_based.model.{module_name}":
            pytest.skip(f"this spikingjelly has no model.{module_name}")
        raise


ATAN = {"surrogate_function": surrogate.ATan(), "detach_reset": True}
# name: (module, builder, node class, SpikingJelly's neuron kwargs, one image's shape, how to run). "m+s": the
# classic networks take [T, N, ...] in multi-step mode and also run single steps (compared in float64); "m": run
# in multi-step mode only (VGG in float32: its 100M-parameter classifier), "image": the newer networks repeat
# one image T times inside.
ZOO = {
    "spiking_resnet18": ("spiking_resnet", lambda m, **kw: m.spiking_resnet18(num_classes=10, **kw),
                         SRRNode, {**ATAN, "tau": 2.0}, (3, 16, 16), "m+s"),
    "sew_resnet18": ("sew_resnet", lambda m, **kw: m.sew_resnet18(num_classes=10, cnf="ADD", **kw),
                     ResetLIFNode, {**ATAN, "tau": 2.0, "v_reset": 0.0}, (3, 16, 16), "m+s"),
    "spiking_vgg11_bn": ("spiking_vgg", lambda m, **kw: m.spiking_vgg11_bn(num_classes=10, **kw),
                         SRRNode, ATAN, (3, 32, 32), "m"),
    "plif_cifar10": ("parametric_lif_net", lambda m, **kw: m.CIFAR10Net(channels=8, **kw),
                     ResetLIFNode, {**ATAN, "tau": 2.0, "v_reset": None}, (3, 32, 32), "m+s"),
    "plif_mnist": ("parametric_lif_net", lambda m, **kw: m.MNISTNet(channels=8, **kw),
                   SRRNode, {"surrogate_function": surrogate.Sigmoid(), "detach_reset": True}, (1, 28, 28), "m+s"),
    "ms_resnet18": ("ms_resnet", lambda m, **kw: m.ms_resnet18(T=2, num_classes=10, **kw),
                    SRRNode, {**ATAN, "tau": 2.0}, (3, 32, 32), "image"),
    "spikformer": ("spikformer", lambda m, **kw: m.Spikformer(
                       T=2, img_size_h=32, img_size_w=32, patch_size=4, num_classes=10, embed_dims=32, num_heads=2,
                       depths=1, **kw),
                   ResetLIFNode, {**ATAN, "tau": 2.0}, (3, 32, 32), "image"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ZOO))
def test_model_zoo_runs_with_our_nodes_single_and_multi_step(name, randn) -> None:
    module_name, build, node_class, kwargs, image, mode = ZOO[name]
    pytest.importorskip("tensorboard", reason="spikingjelly's monitor module imports tensorboard")
    from spikingjelly.activation_based import monitor

    torch.manual_seed(0)
    net = build(_zoo(module_name), spiking_neuron=node_class, store_v_seq=True, **kwargs).eval()
    dtype = torch.float32 if mode == "m" else torch.float64
    net = net.to(dtype)
    nodes = [m for m in net.modules() if isinstance(m, node_class)]
    assert nodes and all(n.detach_reset for n in nodes)
    outputs = monitor.OutputMonitor(net, instance=node_class)
    v_seqs = monitor.AttributeMonitor("v_seq", pre_forward=False, net=net, instance=node_class)
    steps = 2
    if mode == "image":
        x = randn(1, *image, scale=3.0)
    else:
        x = randn(steps, 1, *image, dtype=dtype, scale=3.0)
        functional.set_step_mode(net, "m")
    y = net(x)
    assert torch.isfinite(y).all()
    assert len(outputs.records) == len(nodes) and sum(r.sum() for r in outputs.records) > 0
    assert len(v_seqs.records) == len(nodes) and v_seqs.records[0].shape == outputs.records[0].shape
    assert v_seqs.records[0].shape[0] == steps
    functional.reset_net(net)
    assert all(n.v_seq is None and isinstance(n.v, float) for n in nodes)
    if mode == "m+s":
        functional.set_step_mode(net, "s")
        assert torch.equal(torch.stack([net(x_t) for x_t in x]), y)
        functional.reset_net(net)
    outputs.remove_hooks()
    v_seqs.remove_hooks()


# ---- a published network on every backend: TBPTT with detach_net, reset_net -----------------


def _backend_cases() -> list:
    cases = []
    for backend, reason in available_backends().items():
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        if backend == "cupy":
            marks.append(pytest.mark.gpu)
        node = (ResetLIFNode, {"decay": 0.125}) if backend == "sdn" else (SRRNode, {"tau": 2.0, "tau_r": 4.0})
        cases.append(pytest.param(backend, *node, marks=marks, id=backend))
        if backend in ("torch", "pmbc"):
            cases.append(pytest.param(backend, ResetLIFNode, {"tau": 2.0, "v_reset": 0.2}, id=f"{backend}-lif"))
    return cases


@pytest.mark.parametrize(("backend", "node_class", "kwargs"), _backend_cases())
def test_detach_net_and_reset_net_after_multi_step_calls_on_every_backend(backend, node_class, kwargs, randn) -> None:
    device = "cuda" if backend == "cupy" else "cpu"
    chunks = randn(2, 3, 1, 1, 28, 28, dtype=torch.float32, scale=2.0).to(device)  # two chunks of T = 3

    def run(name: str) -> tuple[list[torch.Tensor], nn.Module]:
        """Outputs and every node's spikes of two chunks (one for the SDN, which predicts from rest)."""
        torch.manual_seed(0)
        net = _zoo("parametric_lif_net").MNISTNet(channels=2, spiking_neuron=node_class, **kwargs).to(device)
        functional.set_step_mode(net, "m")
        spikessm_snn.set_backend(net, name)
        seen = []
        for node in net.modules():
            if isinstance(node, node_class):
                node.register_forward_hook(lambda module, inputs, spikes: seen.append(spikes.detach()))
        for chunk in chunks[: 1 if name == "sdn" else 2]:
            y = net(chunk)
            y.sum().backward()
            functional.detach_net(net)  # truncated BPTT: the next chunk starts from detached states
            seen.append(y.detach())
        return seen, net

    seen, net = run(backend)
    nodes = [m for m in net.modules() if isinstance(m, node_class)]
    assert all(n.backend == backend for n in nodes)
    for n in nodes:
        assert not n.v.requires_grad and n.v._base is None and n.r._base is None
    assert all(p.grad is not None for p in net.parameters())
    assert sum(s.sum() for s in seen) > 0
    if backend != "sdn":  # exact backends: the reference's spikes in every layer
        reference, _ = run("torch")
        assert all(torch.equal(a, b) for a, b in zip(seen, reference, strict=True))
    functional.reset_net(net)
    assert all(isinstance(n.v, float) for n in nodes)


# ---- plain networks ---------------------------------------------------------------------------


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
    assert torch.equal(spikes, result.spikes) and spikes.sum() > 0
    assert torch.equal(node.v_seq, result.v_seq) and torch.equal(node.r_seq, result.r_seq)


def test_monitors_see_every_node_and_reset_net_clears_v_seq(randn) -> None:
    pytest.importorskip("tensorboard", reason="spikingjelly's monitor module imports tensorboard")
    from spikingjelly.activation_based import monitor

    net = _net(lambda: SRRNode(tau=2.5, store_v_seq=True))
    functional.set_step_mode(net, "m")
    outputs = monitor.OutputMonitor(net, instance=SRRNode)
    potentials = monitor.AttributeMonitor("v", pre_forward=False, net=net, instance=SRRNode)
    v_seqs = monitor.AttributeMonitor("v_seq", pre_forward=False, net=net, instance=SRRNode)
    x = randn(10, 2, 6, scale=2.0)
    y = net(x)
    assert len(outputs.records) == 2 and torch.equal(outputs.records[1], y) and y.sum() > 0
    assert len(potentials.records) == 2 and potentials.records[0].shape == (2, 5)
    assert len(v_seqs.records) == 2 and torch.equal(v_seqs.records[0][-1], potentials.records[0])
    functional.reset_net(net)
    assert net[1].v_seq is None and net[3].r_seq is None
    for m in (outputs, potentials, v_seqs):
        m.remove_hooks()


def test_set_backend_ours_and_spikingjellys_own_without_warnings(caplog) -> None:
    net = nn.Sequential(layer.Linear(3, 3), SRRNode(step_mode="m"), ResetLIFNode(step_mode="m"))
    assert "pmbc" in net[1].supported_backends
    spikessm_snn.set_backend(net, "pmbc")
    assert net[1].backend == "pmbc" and net[2].backend == "pmbc"
    with pytest.raises(ValueError, match="unknown backend"):
        spikessm_snn.set_backend(net, "nope")
    if OLD_SPIKINGJELLY:  # spikingjelly 0.0.0.0.14's own function sees our nodes, and nothing to warn about
        with caplog.at_level(logging.WARNING):
            functional.set_backend(net, "torch")
        assert net[1].backend == "torch" and net[2].backend == "torch"
        assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_training_through_nodes_reaches_every_trainable_constant(randn) -> None:
    node = SRRNode(shape=(5,), learn_tau=True, learn_tau_r=True, learn_u_th=True, learn_v_th=True, step_mode="m")
    net = nn.Sequential(layer.Linear(6, 5), node)
    net(randn(20, 4, 6, dtype=torch.float32, scale=2.0)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_dict_round_trip_and_deepcopy(randn) -> None:
    def make() -> SRRNode:
        return SRRNode(tau=2.0, shape=(5,), learn_tau=True, learn_u_th=True, step_mode="m").double()

    node = make()
    with torch.no_grad():
        node.threshold.raw.add_(torch.linspace(-0.5, 0.5, 5, dtype=torch.float64))
    x = randn(30, 2, 5, scale=2.0)
    expected = node(x)
    functional.reset_net(node)
    loaded = make()
    loaded.load_state_dict(node.state_dict())
    assert torch.equal(loaded(x), expected) and torch.equal(copy.deepcopy(node)(x), expected)
    assert not torch.equal(make()(x), expected) and expected.sum() > 0


def test_decay_input_trains_the_decay_through_the_input_too(randn) -> None:
    x = randn(20, 4, 5, scale=2.0, mean=1.0)
    grads = []
    for decay_input in (False, True):
        node = ResetLIFNode(decay=0.5, learn_tau=True, decay_input=decay_input, v_reset=None, step_mode="m")
        node.double()(x).sum().backward()
        grads.append(node.tau.raw.grad)
    assert grads[0] != 0 and grads[1] != 0 and grads[0] != grads[1]


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
