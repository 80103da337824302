"""Neuron constants: held exactly in float64, refused out of range, checked where they are used."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.adapters.spikingjelly import ResetLIFNode
from spikessm_snn.neurons import parameters


def test_fixed_constants_keep_the_float64_value_given_through_dtype_changes() -> None:
    assert ResetLIFNode(decay=0.9).double().tau.value.item() == 0.9  # not 0.8999999761581421
    neuron = SRRNeuron(tau=0.3, tau_r=0.7, u_th=1.1, v_th=0.1).half().float().double()
    for constant, given in ((neuron.tau, 0.3), (neuron.tau_r, 0.7), (neuron.threshold, 1.1), (neuron.refractory, 0.1)):
        assert constant.value.dtype == torch.float64 and constant.value.item() == given


def test_float32_input_sees_the_constants_rounded_to_float32(randn) -> None:
    x = randn(50, 3, dtype=torch.float32)
    p = SRRNeuron(tau=0.3).double().parameters_for(x)
    assert p.tau.dtype == torch.float32 and p.tau.item() == torch.tensor(0.3, dtype=torch.float32).item()


@pytest.mark.parametrize("value", [1e-50, 1e300, 1e39])
def test_values_beyond_float32_are_refused_naming_the_parameter(value) -> None:
    with pytest.raises(ValueError, match=r"u_th=1e[-+]\d+ is outside float32's normal range"):
        SRRNeuron(u_th=value)
    with pytest.raises(ValueError, match=r"v_threshold=1e[-+]\d+ is outside float32's normal range"):
        ResetLIFNeuron(v_threshold=value, learn_threshold=True)


@pytest.mark.parametrize(("key", "bad"), [("tau_r.value", -0.5), ("tau.value", 1.5), ("threshold.value", 0.0),
                                          ("refractory.value", float("nan"))])  # fmt: skip
@pytest.mark.parametrize("backend", ["torch", "pmbc"])
def test_a_loaded_value_out_of_range_is_refused_on_every_backend(key, bad, backend, randn) -> None:
    neuron = SRRNeuron(backend=backend)
    neuron(randn(40, 2, dtype=torch.float32))  # checked once: the load must be found all the same
    state = neuron.state_dict()
    state[key] = torch.tensor(bad)
    neuron.load_state_dict(state)
    name = {"tau_r.value": "tau_r", "tau.value": "tau", "threshold.value": "u_th", "refractory.value": "v_th"}[key]
    with pytest.raises(ValueError, match=rf"neuron constant {name} must be .* it holds"):
        neuron(randn(40, 2, dtype=torch.float32))
    with pytest.raises(ValueError, match=rf"neuron constant {name} must be"):
        neuron.step(randn(2, dtype=torch.float32))


def test_the_sdn_backend_refuses_a_loaded_threshold_out_of_range(randn) -> None:
    neuron = ResetLIFNeuron(backend="sdn")
    neuron.load_state_dict({"tau.value": torch.tensor(0.125), "threshold.value": torch.tensor(-1.0),
                            "tau_r.value": torch.tensor(0.0), "refractory.value": torch.tensor(0.0)})  # fmt: skip
    with pytest.raises(ValueError, match="neuron constant v_threshold must be > 0"):
        neuron(randn(40, 2, dtype=torch.float32))


def test_fixed_constants_checked_once_are_handed_over_until_something_changes(randn) -> None:
    """The same parameters for the same step shape, device and dtype while the stored values are
    unchanged; another step shape or dtype is checked anew."""
    neuron = SRRNeuron(shape=(3,))
    x = randn(30, 2, 3, dtype=torch.float32)
    first = neuron.parameters_for(x[0])
    assert neuron.parameters_for(x[0]) is first
    assert neuron.parameters_for(x[0], torch.float64) is not first
    assert neuron.parameters_for(x[0], torch.float64).tau.dtype == torch.float64
    with pytest.raises(ValueError, match="does not broadcast"):
        neuron.parameters_for(randn(2, 4, dtype=torch.float32))
    trainable = SRRNeuron(learn_tau=True)
    assert trainable.parameters_for(x[0]) is not trainable.parameters_for(x[0])  # a trainable value: every call


def test_an_in_place_change_after_a_checked_call_is_found(randn) -> None:
    neuron = SRRNeuron(shape=(3,))
    x = randn(30, 2, 3, dtype=torch.float32)
    neuron(x)
    with torch.no_grad():
        neuron.tau.value[1] = 0.0
    with pytest.raises(ValueError, match="neuron constant tau must be in"):
        neuron(x)


def test_constants_in_range_are_checked_once_per_dtype_not_per_call(randn, monkeypatch) -> None:
    calls = []
    real = parameters._outside
    monkeypatch.setattr(parameters, "_outside", lambda value, kind: calls.append(kind) or real(value, kind))
    neuron = SRRNeuron(learn_u_th=True)
    x = randn(20, 2, dtype=torch.float32)
    neuron(x)
    assert len(calls) == 4
    neuron(x)
    neuron(x.double())  # a new dtype: checked again
    assert len(calls) == 8
    with torch.no_grad():
        neuron.threshold.raw.add_(0.1)  # an optimizer step: the trainable one is checked again
    neuron(x.double())
    assert len(calls) == 9


def test_without_check_finite_trainable_constants_are_not_checked_at_each_step(randn, monkeypatch) -> None:
    """They change at every optimizer step: checking them would wait for the GPU in every training
    step. Fixed ones are still checked once."""
    calls = []
    real = parameters._outside
    monkeypatch.setattr(parameters, "_outside", lambda value, kind: calls.append(kind) or real(value, kind))
    neuron = SRRNeuron(learn_u_th=True, check_finite=False)
    x = randn(20, 2, dtype=torch.float32)
    neuron(x)
    assert sorted(calls) == ["decay", "nonnegative", "refractory_decay"]
    with torch.no_grad():
        neuron.threshold.raw.add_(0.1)
    neuron(x)
    assert len(calls) == 3
    neuron.check_finite = True
    with torch.no_grad():
        neuron.threshold.raw.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"u_th .* raw parameter gives nan"):
        neuron(x)


def test_a_value_that_rounds_out_of_range_in_half_precision_is_refused(randn) -> None:
    neuron = SRRNeuron(tau_r=0.9999)
    neuron(randn(20, 2, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"tau_r .* rounds to 1\.0 in float16: compute in a wider dtype"):
        neuron(randn(20, 2, dtype=torch.float16))


def test_a_trainable_constant_whose_raw_parameter_diverged_is_refused(randn) -> None:
    neuron = SRRNeuron(learn_tau=True)
    with torch.no_grad():
        neuron.tau.raw.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"tau .* raw parameter gives nan"):
        neuron(randn(20, 2, dtype=torch.float32))


@pytest.mark.parametrize("raw", [40.0, -120.0])
def test_a_saturated_trainable_decay_stays_inside_its_open_range(raw, randn) -> None:
    """sigmoid(40) is 1.0 and softplus(-120) is 0.0 in float32; clamped inside the open intervals,
    both backends run the same neuron."""
    x = randn(200, 4, dtype=torch.float32, scale=1.5)
    results = []
    for backend in ("torch", "pmbc"):
        neuron = SRRNeuron(learn_tau_r=True, learn_v_th=True, backend=backend)
        with torch.no_grad():
            neuron.tau_r.raw.fill_(raw)
            neuron.refractory.raw.fill_(raw)
        p = neuron.parameters_for(x)
        assert 0 <= p.tau_r.item() < 1 and p.refractory.item() > 0
        results.append(neuron(x).spikes)
    assert torch.equal(results[0], results[1])


@pytest.mark.gpu
def test_the_fused_backend_refuses_a_loaded_value_out_of_range() -> None:
    neuron = SRRNeuron(backend="cupy").cuda()
    state = neuron.state_dict()
    state["tau_r.value"] = torch.tensor(-0.5)
    neuron.load_state_dict(state)
    with pytest.raises(ValueError, match=r"neuron constant tau_r must be .* it holds -0\.5"):
        neuron(torch.randn(40, 2, device="cuda"))


def test_a_fixed_constant_is_rounded_once_per_dtype_and_again_after_every_change() -> None:
    tau = parameters.ConstrainedParameter("tau", 0.9, "decay", trainable=False)
    first = tau.in_dtype(torch.float32)
    assert tau.in_dtype(torch.float32) is first  # no work per call
    assert float(first) == float(torch.tensor(0.9, dtype=torch.float32))
    assert tau.in_dtype(torch.float16).dtype == torch.float16
    with torch.no_grad():
        tau.value.fill_(0.5)  # in place: the version counter moves
    assert float(tau.in_dtype(torch.float32)) == 0.5
    tau.load_state_dict({"value": torch.tensor(0.25, dtype=torch.float64)})
    assert float(tau.in_dtype(torch.float32)) == 0.25
    tau.value = torch.tensor(0.125, dtype=torch.float64)  # a new buffer
    assert float(tau.in_dtype(torch.float32)) == 0.125


def test_a_value_rounded_under_inference_mode_is_not_kept_for_training(randn) -> None:
    neuron = ResetLIFNeuron(tau=0.5, v_threshold=0.8, backend="torch")
    x = randn(6, 2, 3, dtype=torch.float32)  # the float64 buffers rounded: a new tensor
    with torch.inference_mode():
        neuron(x)
    xi = x.clone().requires_grad_()
    neuron(xi).spikes.sum().backward()  # an inference tensor saved for backward would raise here
    assert xi.grad is not None and torch.isfinite(xi.grad).all()


def test_known_max_is_the_value_as_known_on_the_host_until_it_changes(randn) -> None:
    """A fixed value as given, through moves and dtype changes; after a change, unknown until the
    range check finds it; a trainable one only from its last check until the next step."""
    neuron = SRRNeuron(tau=0.75, tau_r=0.25, shape=(3,))
    assert (neuron.tau.known_max(), neuron.tau_r.known_max()) == (0.75, 0.25)
    neuron.double().float().half()
    assert neuron.tau.known_max() == 0.75
    neuron.load_state_dict({**neuron.state_dict(), "tau.value": torch.tensor([0.5, 0.875, 0.25], dtype=torch.float64)})
    assert neuron.tau.known_max() is None and neuron.tau_r.known_max() is None  # every loaded value copied in
    neuron(randn(10, 2, 3, dtype=torch.float32))
    assert (neuron.tau.known_max(), neuron.tau_r.known_max()) == (0.875, 0.25)
    with torch.no_grad():
        neuron.tau.value[0] = 0.9
    assert neuron.tau.known_max() is None
    trained = SRRNeuron(tau=0.75, learn_tau=True)
    assert trained.tau.known_max() is None
    trained(randn(10, 2, dtype=torch.float32))
    assert trained.tau.known_max() == pytest.approx(0.75, abs=1e-7)
    with torch.no_grad():
        trained.tau.raw.add_(0.1)  # an optimizer step
    assert trained.tau.known_max() is None
    trained(randn(10, 2, dtype=torch.float32))
    trained.half()  # rounds the raw parameter: what was known is no more
    assert trained.tau.known_max() is None
