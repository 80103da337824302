"""Second derivatives (``create_graph=True``): refused where a backend's backward has no graph,
right where it has one."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.sdn import SHIPPED, load_sdn


def _first_gradient(neuron, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad((neuron(x).spikes * g).sum(), x, create_graph=True)
    return grad


def test_pmbc_refuses_create_graph(randn) -> None:
    x = randn(100, 2, 3, dtype=torch.float32, scale=1.5).requires_grad_()
    g = randn(100, 2, 3, dtype=torch.float32)
    with pytest.raises(RuntimeError, match=r"backend 'pmbc' .* no second derivative .* use backend 'torch'"):
        _first_gradient(SRRNeuron(tau=0.6, tau_r=0.8, v_th=0.5, backend="pmbc"), x, g)


def test_pmbc_hard_reset_on_a_cpu_runs_the_loop_and_gives_its_second_derivative(randn) -> None:
    x = randn(100, 2, 3, scale=1.5).requires_grad_()
    g, w = randn(100, 2, 3), randn(100, 2, 3)
    seconds = []
    for backend in ("torch", "pmbc"):
        grad = _first_gradient(ResetLIFNeuron(tau=0.5, backend=backend), x, g)
        seconds.append(torch.autograd.grad((grad * w).sum(), x)[0])
    assert seconds[0].abs().sum() > 0 and torch.equal(seconds[0], seconds[1])


def test_the_sdn_second_derivative_is_the_surrogates(randn) -> None:
    """d/dx of the input gradient ``g * max(0, 1 - |z|)``, ``z = m + x - 1`` with ``m`` constant, is
    ``-g * sign(z)`` where ``|z| < 1``: written out here, compared with autograd through the backend."""
    x = randn(200, 2, 4, dtype=torch.float32).requires_grad_()
    g, w = randn(200, 2, 4, dtype=torch.float32), randn(200, 2, 4, dtype=torch.float32)
    grad = _first_gradient(ResetLIFNeuron(tau=0.125, backend="sdn"), x, g)
    (second,) = torch.autograd.grad((grad * w).sum(), x)
    model, _ = load_sdn(SHIPPED)
    with torch.no_grad():
        m = model(x.detach().permute(1, 2, 0).reshape(-1, 1, 200)).reshape(2, 4, 200).permute(2, 0, 1)
    z = m + x.detach() - 1.0
    expected = torch.where(z.abs() < 1, -g * w * torch.sign(z), torch.zeros_like(z))
    assert (expected != 0).float().mean() > 0.2
    assert torch.allclose(second, expected, atol=1e-6)


def test_the_fused_kernels_on_the_cpu_refuse_create_graph(randn, on_the_cpu) -> None:
    x = randn(100, 2, 3, dtype=torch.float32, scale=1.5).requires_grad_()
    g = randn(100, 2, 3, dtype=torch.float32)
    spikes = on_the_cpu(SRRNeuron(tau=0.6, tau_r=0.8, v_th=0.5), x, None, False).spikes
    with pytest.raises(RuntimeError, match=r"backend 'cupy' .* no second derivative"):
        torch.autograd.grad((spikes * g).sum(), x, create_graph=True)


@pytest.mark.gpu
def test_the_fused_kernel_refuses_create_graph() -> None:
    x = torch.randn(100, 2, 3, device="cuda").requires_grad_()
    g = torch.randn(100, 2, 3, device="cuda")
    with pytest.raises(RuntimeError, match=r"backend 'cupy' .* no second derivative"):
        _first_gradient(SRRNeuron(backend="cupy").cuda(), x, g)
