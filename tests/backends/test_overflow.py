"""Finite input whose state overflows the input's dtype is refused on every backend, never
answered differently by each; states that stay in range are never refused."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.sdn import SurrogateDynamicNetwork, backend

OVERFLOWING = {  # the charged potential passes the dtype's largest value, then comes back into range
    torch.float32: [2e38, 2e38, -3.4e38, -3.4e38, 0.0, 0.0],
    torch.float16: [40000.0, 40000.0, -65504.0, -65504.0, 0.0, 0.0],
}
NEURONS = {  # dtype -> neuron; the hard-reset one does not fire before its potential overflows
    "srr_integrator": lambda dtype, **kw: SRRNeuron(tau=1.0, v_th=0.0, **kw),
    "srr": lambda dtype, **kw: SRRNeuron(tau=0.9, tau_r=0.5, v_th=0.5, **kw),
    "lif_hard": lambda dtype, **kw: ResetLIFNeuron(tau=1.0, v_threshold=0.9 * torch.finfo(dtype).max, **kw),
}


def _column(values: list[float], dtype: torch.dtype, device: str = "cpu") -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device).reshape(-1, 1, 1).expand(-1, 2, 3).contiguous()


@pytest.mark.parametrize("dtype", list(OVERFLOWING))
@pytest.mark.parametrize("name", NEURONS)
@pytest.mark.parametrize("backend", ["torch", "pmbc"])
def test_an_overflowing_state_is_refused(backend, name, dtype) -> None:
    x = _column(OVERFLOWING[dtype], dtype)
    neuron = NEURONS[name](dtype, backend=backend)
    with pytest.raises(ValueError, match=f"state overflowed {str(dtype).removeprefix('torch.')}"):
        neuron(x)
    neuron.check_finite = False  # the check can be switched off: then the backend's own answer comes back
    neuron(x)


# r = 3e38 after the first spike decays to 0.94e38 by the 13th step, whose spike raises it to
# 3.85e38: beyond float32, while every charged potential stays below 2e38
TRACE_OVERFLOWING = [2e38] + [0.0] * 11 + [1.5e38, 0.0, 0.0]


def _large_trace(**kw) -> SRRNeuron:
    return SRRNeuron(tau=0.5, tau_r=0.9, u_th=1.0, v_th=3e38, **kw)


@pytest.mark.parametrize("backend", ["torch", "pmbc"])
def test_an_overflowing_refractory_trace_is_refused(backend) -> None:
    with pytest.raises(ValueError, match="state overflowed float32"):
        _large_trace(backend=backend)(_column(TRACE_OVERFLOWING, torch.float32))


def test_the_fused_kernels_on_the_cpu_refuse_an_overflowing_refractory_trace(on_the_cpu) -> None:
    with pytest.raises(ValueError, match="state overflowed float32"):
        on_the_cpu(_large_trace(), _column(TRACE_OVERFLOWING, torch.float32), None, False)


def test_a_single_step_that_overflows_is_refused() -> None:
    neuron = SRRNeuron(tau=1.0, v_th=0.0)
    _, state = neuron.step(torch.full((2,), 2e38))
    with pytest.raises(ValueError, match="state overflowed float32"):
        neuron.step(torch.full((2,), 2e38), state)


def test_the_sdn_backend_refuses_a_charged_potential_beyond_the_dtype(monkeypatch) -> None:
    """An SDN that predicts m = 60000 everywhere (60000 / 65000 for the unit threshold, scaled by
    the threshold 65000): m + x = 70000 at the second step is beyond float16."""
    network = SurrogateDynamicNetwork()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.decode.bias.fill_(60000.0 / 65000.0)
    monkeypatch.setattr(backend, "_REGISTERED", {})
    backend.register_sdn(network, {"tau": 0.3, "train_steps": 16})
    neuron = ResetLIFNeuron(tau=0.3, v_threshold=65000.0, backend="sdn")
    neuron(_column([-1e4, -6e4, 0.0], torch.float16))  # 50000, 0, 60000: in range
    with pytest.raises(ValueError, match="state overflowed float16"):
        neuron(_column([-1e4, 1e4, 0.0], torch.float16))


@pytest.mark.parametrize("dtype", list(OVERFLOWING))
@pytest.mark.parametrize("name", NEURONS)
def test_large_states_within_range_are_not_refused(name, dtype, randn) -> None:
    """Near the limit but inside it (steps of 1/400 of the largest value) both backends agree."""
    x = (randn(300, 2, 3, dtype=torch.float64) * torch.finfo(dtype).max / 400).to(dtype)
    ref = NEURONS[name](dtype)(x)
    ours = NEURONS[name](dtype, backend="pmbc")(x)
    assert torch.equal(ours.spikes, ref.spikes) and torch.isfinite(ours.state.v).all()


@pytest.mark.parametrize("dtype", list(OVERFLOWING))
@pytest.mark.parametrize("name", NEURONS)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_the_fused_kernels_on_the_cpu_refuse_an_overflowing_state(name, dtype, requires_grad, randn,
                                                                  on_the_cpu) -> None:  # fmt: skip
    """The kernels' flag: overflow on finite input; NaN/inf named first where the input holds them;
    nothing where the state stays in range or the check is off."""
    x = _column(OVERFLOWING[dtype], dtype)
    neuron = NEURONS[name](dtype)
    with pytest.raises(ValueError, match=f"state overflowed {str(dtype).removeprefix('torch.')}"):
        on_the_cpu(neuron, x.clone().requires_grad_(requires_grad), None, False)
    x[1] = float("nan")
    with pytest.raises(ValueError, match="x_seq holds NaN or inf"):
        on_the_cpu(neuron, x.clone().requires_grad_(requires_grad), None, False)
    inside = (randn(300, 2, 3) * torch.finfo(dtype).max / 400).to(dtype)
    on_the_cpu(neuron, inside.requires_grad_(requires_grad), None, False)
    neuron.check_finite = False
    on_the_cpu(neuron, x.requires_grad_(requires_grad), None, False)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", list(OVERFLOWING))
@pytest.mark.parametrize("name", NEURONS)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_the_fused_kernel_refuses_an_overflowing_state(name, dtype, requires_grad) -> None:
    x = _column(OVERFLOWING[dtype], dtype, "cuda").requires_grad_(requires_grad)
    with pytest.raises(ValueError, match=f"state overflowed {str(dtype).removeprefix('torch.')}"):
        NEURONS[name](dtype, backend="cupy").cuda()(x)
    inside = (torch.randn(300, 2, 3, device="cuda", dtype=torch.float64) * torch.finfo(dtype).max / 400).to(dtype)
    NEURONS[name](dtype, backend="cupy").cuda()(inside.requires_grad_(requires_grad))
