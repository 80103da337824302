"""The framework-free neuron modules: reference loop, single vs multi step, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends import registry
from spikessm_snn.backends.reference import run_reference

NEURONS = {
    "srr": lambda **kw: SRRNeuron(tau=0.6, tau_r=0.8, u_th=1.0, v_th=0.5, **kw),
    "lif_hard": lambda **kw: ResetLIFNeuron(tau=0.5, v_threshold=0.8, reset="hard", **kw),
    "lif_soft": lambda **kw: ResetLIFNeuron(tau=0.5, v_threshold=0.8, reset="soft", **kw),
}


@pytest.mark.parametrize("kind", NEURONS)
def test_single_step_equals_multi_step_and_state_carries(kind, randn) -> None:
    neuron = NEURONS[kind]().double()
    x = randn(40, 3, 5, scale=1.5)
    whole = neuron(x, record=True)
    state, spikes = None, []
    for x_t in x:
        s, state = neuron.step(x_t, state)
        spikes.append(s)
    assert torch.equal(torch.stack(spikes), whole.spikes)
    assert torch.equal(state.v, whole.state.v) and torch.equal(state.r, whole.state.r)
    first = neuron(x[:17])  # state carries across calls
    second = neuron(x[17:], first.state)
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)
    assert 0 < whole.spikes.mean() < 1


def test_per_channel_parameters_broadcast_over_the_last_axis(randn) -> None:
    d = 4
    neuron = SRRNeuron(shape=(d,)).double()
    with torch.no_grad():
        neuron.threshold.value.copy_(torch.tensor([0.5, 1.0, 2.0, 4.0]))
    x = randn(50, 2, d, scale=2.0)
    per_channel = neuron(x).spikes
    for c, u in enumerate([0.5, 1.0, 2.0, 4.0]):
        assert torch.equal(per_channel[..., c], SRRNeuron(u_th=u).double()(x[..., c]).spikes)


def _smooth_spike(z: torch.Tensor) -> torch.Tensor:
    # A differentiable stand-in for H whose true derivative is the sigmoid surrogate's.
    return torch.sigmoid(4.0 * z)


@pytest.mark.parametrize("kind", NEURONS)
def test_bptt_of_the_reference_passes_gradcheck(kind, randn) -> None:
    """The loop's backward (every path: input, state, every trainable constant) is the true
    derivative of the unrolled graph; checked on a smooth spike in float64."""
    learn = (
        {"learn_tau": True, "learn_threshold": True}
        if kind != "srr"
        else {"learn_tau": True, "learn_tau_r": True, "learn_u_th": True, "learn_v_th": True}
    )
    neuron = NEURONS[kind](surrogate=_smooth_spike, **learn).double()
    x = randn(12, 2, 3).requires_grad_()
    names = [name for name, _ in neuron.named_parameters()]
    assert len(names) == (4 if kind == "srr" else 2)

    def f(x, *raw_values):
        result = torch.func.functional_call(neuron, dict(zip(names, raw_values, strict=True)), (x,), {"record": True})
        return result.v_seq, result.r_seq, result.spikes

    raw_values = [p.detach().clone().requires_grad_() for p in neuron.parameters()]
    assert torch.autograd.gradcheck(f, (x, *raw_values))


@pytest.mark.parametrize("kind", NEURONS)
def test_surrogate_gradient_reaches_every_trainable_parameter(kind, randn) -> None:
    learn = (
        {"learn_tau": True, "learn_threshold": True}
        if kind != "srr"
        else {"learn_tau": True, "learn_tau_r": True, "learn_u_th": True, "learn_v_th": True}
    )
    neuron = NEURONS[kind](shape=(3,), **learn)
    x = randn(30, 4, 3, dtype=torch.float32, scale=1.5).requires_grad_()
    (neuron(x).spikes * randn(30, 4, 3, dtype=torch.float32)).sum().backward()
    for name, p in neuron.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_detach_reset_changes_only_the_gradient(randn) -> None:
    x = randn(30, 2, 3, scale=1.5)
    grads = []
    for detach in (False, True):
        xi = x.clone().requires_grad_()
        out = SRRNeuron(detach_reset=detach).double()(xi).spikes
        out.sum().backward()
        grads.append((out.detach(), xi.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and not torch.allclose(grads[0][1], grads[1][1])


# ---- external references: SpikingJelly's LIFNode (settings from shared/notes) ----------------


@pytest.mark.parametrize("tau", [0.125, 0.5, 0.9])
@pytest.mark.parametrize("kind", ["srr_no_refractory", "lif_hard"])
def test_equals_spikingjelly_lif_spike_for_spike(kind, tau, randn) -> None:
    sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    if kind == "srr_no_refractory":
        ours = SRRNeuron(tau=tau, u_th=1.0, v_th=0.0)
        theirs = sj_neuron.LIFNode(
            tau=1 / (1 - tau), decay_input=False, v_reset=None, v_threshold=1.0, step_mode="m", store_v_seq=True
        )
    else:
        ours = ResetLIFNeuron(tau=tau, v_threshold=1.0, reset="hard")
        theirs = sj_neuron.LIFNode(
            tau=1 / (1 - tau), decay_input=False, v_reset=0.0, v_threshold=1.0, step_mode="m", store_v_seq=True
        )
    x = randn(500, 4, 16, scale=1.0, mean=0.3)
    result = ours.double()(x, record=True)
    assert result.spikes.sum() > 0
    assert torch.equal(result.spikes, theirs(x))
    # SpikingJelly charges as v - v / tau_sj + x: the same potential up to rounding
    assert torch.allclose(result.v_seq, theirs.v_seq, atol=1e-5)


# ---- bad input ------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(randn) -> None:
    neuron = SRRNeuron()
    with pytest.raises(ValueError, match=r"x_seq must be \[T, B, \.\.\.\]"):
        neuron(randn(10, dtype=torch.float32))
    with pytest.raises(TypeError, match="must be a floating tensor"):
        neuron(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor"):
        neuron([[1.0]])
    with pytest.raises(ValueError, match="empty"):
        neuron(torch.empty(0, 2))
    for bad in (math.nan, math.inf, -math.inf):
        x = randn(5, 2, dtype=torch.float32)
        x[2, 1] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            neuron(x)
        with pytest.raises(ValueError, match="NaN or inf"):
            neuron.step(x[2])
        SRRNeuron(check_finite=False)(x)  # the check can be switched off
    with pytest.raises(ValueError, match=r"one input step is \(2, 3\)"):
        neuron(randn(4, 2, 3, dtype=torch.float32), neuron(randn(4, 5, 3, dtype=torch.float32)).state)
    with pytest.raises(ValueError, match="does not broadcast"):
        SRRNeuron(shape=(4,))(randn(4, 2, 3, dtype=torch.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau": 0.0}, r"tau must be in \(0, 1\]"),
        ({"tau": 1.5}, r"tau must be in \(0, 1\]"),
        ({"tau": 1.0, "learn_tau": True}, "strictly inside"),
        ({"tau_r": 1.0}, r"tau_r must be in \[0, 1\)"),
        ({"tau_r": -0.1}, r"tau_r must be in \[0, 1\)"),
        ({"u_th": 0.0}, "u_th must be > 0"),
        ({"u_th": -1.0}, "u_th must be > 0"),
        ({"v_th": -0.5}, "v_th must be >= 0"),
        ({"v_th": 0.0, "learn_v_th": True}, "strictly inside"),
        ({"tau": math.nan}, "tau must be"),
        ({"surrogate": "nope"}, "unknown surrogate"),
        ({"backend": "nope"}, "unknown backend 'nope'"),
    ],
)
def test_bad_srr_settings_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SRRNeuron(**kwargs)


def test_bad_reset_lif_settings_raise() -> None:
    with pytest.raises(ValueError, match="v_threshold must be > 0"):
        ResetLIFNeuron(v_threshold=0.0)
    with pytest.raises(ValueError, match="reset must be 'hard' or 'soft'"):
        ResetLIFNeuron(reset="zero")
    with pytest.raises(ValueError, match="v_reset must be finite"):
        ResetLIFNeuron(v_reset=math.nan)


def test_a_backend_missing_here_names_what_is_missing(monkeypatch) -> None:
    missing = registry.Backend("faraway", exact=True, run=run_reference, installed=lambda: "needs the FarAway library")
    monkeypatch.setitem(registry.BACKENDS, "faraway", missing)
    with pytest.raises(BackendUnavailableError, match="'faraway' is not available here: needs the FarAway library"):
        SRRNeuron(backend="faraway")


def test_a_backend_that_cannot_take_these_inputs_says_why(monkeypatch, randn) -> None:
    picky = registry.Backend("picky", exact=True, run=run_reference, unsupported=lambda x, p, f: "only float64")
    monkeypatch.setitem(registry.BACKENDS, "picky", picky)
    with pytest.raises(BackendUnavailableError, match="'picky' cannot run this call: only float64"):
        SRRNeuron(backend="picky")(randn(4, 2, dtype=torch.float32))


def test_parameters_on_another_device_are_refused(randn) -> None:
    neuron = SRRNeuron()
    x = randn(4, 2, dtype=torch.float32)
    meta = x.to("meta")
    with pytest.raises(ValueError, match="is on cpu but the input is on meta"):
        neuron.parameters_for(meta)
