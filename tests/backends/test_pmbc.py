"""PMBC against the iterative reference: spikes bit for bit, potentials, gradients."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.pmbc import autograd, compression
from spikessm_snn.neurons.dynamics import NeuronState
from spikessm_snn.neurons.surrogate import SURROGATE_NAMES

SETTINGS = {
    "srr": lambda **kw: SRRNeuron(tau=0.5, tau_r=0.8, u_th=1.0, v_th=0.5, **kw),
    "srr_short_memory": lambda **kw: SRRNeuron(tau=0.125, tau_r=0.3, u_th=0.7, v_th=1.5, **kw),
    "srr_long_memory": lambda **kw: SRRNeuron(tau=0.9, tau_r=0.95, u_th=2.0, v_th=0.2, **kw),
    "srr_no_refractory_decay": lambda **kw: SRRNeuron(tau=0.7, tau_r=0.0, u_th=1.0, v_th=1.0, **kw),
    "srr_integrator": lambda **kw: SRRNeuron(tau=1.0, tau_r=0.5, u_th=1.0, v_th=1.0, **kw),
    "lif_soft": lambda **kw: ResetLIFNeuron(tau=0.8, v_threshold=0.5, reset="soft", **kw),
}
TRAINABLE = {"learn_tau": True, "learn_tau_r": True, "learn_u_th": True, "learn_v_th": True}


def _both(factory, x: torch.Tensor, seed_grad: torch.Tensor | None = None, **kwargs):
    """Run the reference and PMBC on the same input; return (reference, pmbc) results and grads."""
    out = []
    for backend in ("torch", "pmbc"):
        neuron = factory(backend=backend, **kwargs).to(x.device, x.dtype)
        xi = x.clone().requires_grad_(seed_grad is not None)
        result = neuron(xi, record=True)
        grads = None
        if seed_grad is not None:
            loss = (result.spikes * seed_grad).sum() + 0.3 * (result.v_seq * seed_grad.flip(0)).sum()
            loss = loss + 0.2 * (result.r_seq * seed_grad).sum() + result.state.v.sum()
            loss.backward()
            grads = {"x": xi.grad, **{name: p.grad for name, p in neuron.named_parameters()}}
        out.append((result, grads))
    return out


def _assert_potentials_close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    scale = reference.abs().amax().clamp(min=1.0)
    assert ((ours - reference).abs() <= 1e-5 * scale).all(), (ours - reference).abs().max()


def _assert_grads_close(ours: dict, reference: dict) -> None:
    for name, g_ref in reference.items():
        g = ours[name]
        assert g is not None and g_ref.abs().sum() > 0, name
        err = (g - g_ref).norm() / g_ref.norm()
        assert err < 1e-4, (name, err.item())


POLICIES = {  # (MIN_PASSES, FINISH_ROWS)
    "compression_only": (1, 0),
    "compression_then_finish": (1, 8),
    "default": (compression.MIN_PASSES, compression.FINISH_ROWS),
    "finish_only": (0, 10**9),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("shape", [(1, 1), (64, 3, 5), (300, 2, 7), (1000, 16)])
def test_spikes_equal_the_reference(setting, shape, dtype, policy, randn, monkeypatch) -> None:
    """The paper's compression run to the end, compression then the sequential finish, and the
    finish alone all give the reference's spikes."""
    min_passes, finish_rows = POLICIES[policy]
    monkeypatch.setattr(compression, "MIN_PASSES", min_passes)
    monkeypatch.setattr(compression, "FINISH_ROWS", finish_rows)
    x = randn(*shape, dtype=dtype, scale=1.5, mean=0.2)
    (ref, _), (ours, _) = _both(SETTINGS[setting], x)
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_potentials_close(ours.v_seq, ref.v_seq)
    _assert_potentials_close(ours.r_seq, ref.r_seq)
    stats = ours.stats
    assert stats["neurons"] == x[0].numel()
    assert stats["iterations"] >= min_passes
    assert stats["finish_steps"] <= finish_rows or stats["iterations"] == compression.MAX_ITERATIONS


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("setting", ["srr", "srr_long_memory", "lif_soft"])
def test_gradients_equal_the_reference(setting, dtype, randn) -> None:
    x = randn(200, 3, 4, dtype=dtype, scale=1.5, mean=0.2)
    kwargs = TRAINABLE if setting.startswith("srr") else {"learn_tau": True, "learn_threshold": True}
    (ref, g_ref), (ours, g_ours) = _both(SETTINGS[setting], x, randn(200, 3, 4, dtype=dtype), shape=(4,), **kwargs)
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_grads_close(g_ours, g_ref)


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("detach_reset", [False, True])
def test_gradients_for_each_surrogate_and_detach_reset(surrogate, detach_reset, randn) -> None:
    x = randn(150, 2, 6, scale=1.5)
    (_, g_ref), (_, g_ours) = _both(
        SETTINGS["srr"], x, randn(150, 2, 6), surrogate=surrogate, detach_reset=detach_reset, shape=(6,), **TRAINABLE
    )
    _assert_grads_close(g_ours, g_ref)


@pytest.mark.parametrize("surrogate", ["triangle", "rect"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("setting", ["srr", "lif_soft"])
def test_gradients_reach_the_initial_state(setting, surrogate, detach_reset, randn) -> None:
    """A carried state ``(v0, r0)`` that requires grad: its gradients and the constants' (the
    decay's takes ``v0 dL/dh[0]``) equal the reference's."""
    x = randn(200, 3, 4, scale=1.5, mean=0.2)
    v0, r0 = randn(3, 4), randn(3, 4, scale=0.5).abs()
    g = randn(200, 3, 4)
    learn = TRAINABLE if setting == "srr" else {"learn_tau": True, "learn_threshold": True}
    out = []
    for backend in ("torch", "pmbc"):
        neuron = SETTINGS[setting](backend=backend, surrogate=surrogate, detach_reset=detach_reset, shape=(4,), **learn)
        state = NeuronState(v0.clone().requires_grad_(), r0.clone().requires_grad_())
        result = neuron.double()(x, state, record=True)
        loss = (result.spikes * g).sum() + 0.3 * (result.v_seq * g.flip(0)).sum() + result.state.r.sum()
        loss.backward()
        out.append((result.spikes, {"v0": state.v.grad, "r0": state.r.grad,
                                    **{name: p.grad for name, p in neuron.named_parameters()}}))  # fmt: skip
    assert torch.equal(out[0][0], out[1][0])
    _assert_grads_close(out[1][1], out[0][1])


def test_a_carried_state_continues_exactly(randn) -> None:
    x = randn(400, 4, 8, dtype=torch.float32, scale=1.5)
    neuron = SETTINGS["srr"](backend="pmbc")
    first = neuron(x[:150])
    second = neuron(x[150:], first.state)
    whole = SETTINGS["srr"]()(x)
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)


def test_what_the_iteration_cap_leaves_is_finished_exactly(randn, monkeypatch) -> None:
    monkeypatch.setattr(compression, "MAX_ITERATIONS", 2)
    monkeypatch.setattr(compression, "FINISH_ROWS", 0)
    x = randn(500, 64, dtype=torch.float32, scale=1.5)
    (ref, _), (ours, _) = _both(SETTINGS["srr_long_memory"], x)
    assert ours.stats["iterations"] == 2 and ours.stats["finish_steps"] > 0
    assert torch.equal(ours.spikes, ref.spikes)


def test_work_is_split_into_neuron_groups_exactly(randn, monkeypatch) -> None:
    """A small group budget (memory bound at long T) splits the neurons: same spikes, gradients."""
    x = randn(300, 4, 6, scale=1.5, mean=0.2)
    g = randn(300, 4, 6)
    (_, g_whole), _ = _both(SETTINGS["srr"], x, g, shape=(6,), **TRAINABLE)
    monkeypatch.setattr(autograd, "GROUP_ELEMENTS", 300 * 5)  # 5 neurons a group: 5 groups, the last of 4
    (ref, g_ref), (ours, g_ours) = _both(SETTINGS["srr"], x, g, shape=(6,), **TRAINABLE)
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_grads_close(g_ours, g_ref)
    _assert_grads_close(g_ours, g_whole)


def test_groups_are_sized_from_the_memory_available(randn, monkeypatch) -> None:
    """Half the memory available at ``BYTES_PER_ELEMENT`` bounds a group: with room for 300 x 5
    elements, 300 steps of 24 neurons run in 5 groups, with the reference's spikes and gradients."""
    cpu = torch.device("cpu")
    assert autograd._available_bytes(cpu) > 0  # read from the host here
    monkeypatch.setattr(autograd, "_available_bytes", lambda device: None)
    assert autograd.group_elements(cpu) == autograd.GROUP_ELEMENTS  # unknown: the cap
    room = 2 * 300 * 5 * autograd.BYTES_PER_ELEMENT
    monkeypatch.setattr(autograd, "_available_bytes", lambda device: room)
    assert autograd.group_elements(cpu) == 1500
    groups, real = [], autograd._forward_group
    monkeypatch.setattr(autograd, "_forward_group", lambda x, *rest: groups.append(x.shape[1]) or real(x, *rest))
    x = randn(300, 4, 6, scale=1.5, mean=0.2)
    (ref, g_ref), (ours, g_ours) = _both(SETTINGS["srr"], x, randn(300, 4, 6), shape=(6,), **TRAINABLE)
    assert groups == [5, 5, 5, 5, 4]
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_grads_close(g_ours, g_ref)


def test_margins_inside_the_rounding_band_are_settled(randn, monkeypatch) -> None:
    """With a guard band as wide as the margins themselves nothing is decided by bounds:
    every neuron goes to the exact loop, and the spikes are still the reference's."""
    monkeypatch.setattr(compression, "GUARD_SAFETY", 1e18)
    x = randn(100, 32, scale=1.5)
    (ref, _), (ours, _) = _both(SETTINGS["srr"], x)
    assert ours.stats["settled"] == 32
    assert torch.equal(ours.spikes, ref.spikes)


def test_hard_reset_is_settled_exactly_with_gradients(randn) -> None:
    factory = lambda **kw: ResetLIFNeuron(tau=0.5, v_threshold=1.0, reset="hard", **kw)  # noqa: E731
    x = randn(300, 4, 5, scale=1.5, mean=0.3)
    (ref, g_ref), (ours, g_ours) = _both(factory, x, randn(300, 4, 5), learn_threshold=True, shape=(5,))
    assert torch.equal(ours.spikes, ref.spikes) and ours.stats["settled"] == 20
    _assert_grads_close(g_ours, g_ref)


def test_iterations_grow_with_the_membrane_memory(randn) -> None:
    x = randn(1024, 64, scale=1.0)
    counts = [SRRNeuron(tau=tau, v_th=0.0, backend="pmbc").double()(x).stats for tau in (0.125, 0.8)]
    assert counts[0]["iterations"] < counts[1]["iterations"]


def test_arbitrary_callables_are_refused(randn) -> None:
    neuron = SRRNeuron(surrogate=lambda z: (z >= 0).float(), backend="pmbc")
    with pytest.raises(BackendUnavailableError, match="needs the surrogate's derivative"):
        neuron(randn(5, 2, dtype=torch.float32))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("setting", ["srr", "srr_short_memory", "lif_soft"])
def test_long_sequences_up_to_4096_steps(setting, dtype, randn) -> None:
    x = randn(4096, 2, 16, dtype=dtype, scale=1.5, mean=0.2)
    (ref, g_ref), (ours, g_ours) = _both(SETTINGS[setting], x, randn(4096, 2, 16, dtype=dtype))
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_potentials_close(ours.v_seq, ref.v_seq)
    _assert_grads_close(g_ours, g_ref)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("setting", ["srr", "srr_long_memory", "lif_soft"])
def test_on_the_gpu_spikes_and_gradients_equal_the_reference(setting, dtype, randn) -> None:
    x = randn(2048, 8, 64, dtype=dtype, scale=1.5, mean=0.2).cuda()
    kwargs = TRAINABLE if setting.startswith("srr") else {"learn_tau": True, "learn_threshold": True}
    (ref, g_ref), (ours, g_ours) = _both(SETTINGS[setting], x, randn(2048, 8, 64, dtype=dtype).cuda(),
                                         shape=(64,), **kwargs)  # fmt: skip
    assert torch.equal(ours.spikes, ref.spikes)
    _assert_potentials_close(ours.v_seq, ref.v_seq)
    _assert_grads_close(g_ours, g_ref)
