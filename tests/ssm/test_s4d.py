"""The S4D convolution against the same SSM run as a recurrence."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.ssm import S4DConv, S4DKernel
from spikessm_snn.ssm.s4d import fft_size


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_fft_convolution_equals_the_recurrent_ssm(init, randn) -> None:
    torch.manual_seed(0)
    conv = S4DConv(5, d_state=8, init=init).double()
    u = randn(3, 5, 70)
    c, dt_a, db = conv.kernel.discrete()
    da = torch.exp(dt_a)
    state = torch.zeros(3, 5, 4, dtype=torch.complex128)
    outputs = []
    for t in range(u.shape[-1]):  # x_t = dA x_{t-1} + dB u_t;  y_t = 2 Re(C x_t) + D u_t
        state = da * state + db * u[..., t, None]
        outputs.append(2 * (c * state).sum(-1).real + conv.D * u[..., t])
    assert torch.allclose(conv(u), torch.stack(outputs, dim=-1), atol=1e-9)


def test_ssm_parameters_trainable_b_included_are_marked_for_their_own_group() -> None:
    kernel = S4DKernel(4, 8, trainable_b=True)
    for name in ("log_dt", "log_A_real", "A_imag", "B"):
        assert getattr(kernel, name)._optim == {"weight_decay": 0.0}
    assert not hasattr(kernel.C, "_optim")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"init": "legs"}, "init must be"), ({"d_state": 7}, "even number"), ({"dt_min": 0.2, "dt_max": 0.1}, "dt_min"),
])  # fmt: skip
def test_bad_settings_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        S4DKernel(4, **{"d_state": 8, **kwargs})


def test_bidirectional_adds_an_anticausal_kernel_over_the_future(randn) -> None:
    torch.manual_seed(0)
    conv = S4DConv(3, d_state=8, bidirectional=True, trainable_b=True).double()
    u = randn(2, 3, 20)
    k = conv.kernel(20)
    forward_k, backward_k = k[:3], k[3:]
    expected = u * conv.D[:, None]
    for t in range(20):
        past = sum(forward_k[:, j] * u[..., t - j] for j in range(t + 1))
        future = sum(backward_k[:, s - t - 1] * u[..., s] for s in range(t + 1, 20))
        expected[..., t] = expected[..., t] + past + future
    assert torch.allclose(conv(u), expected, atol=1e-9)
    assert conv.kernel.B is not None and conv.kernel.B.requires_grad


def _smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def test_the_fft_size_is_the_smallest_5_smooth_number_reaching_the_minimum() -> None:
    for minimum in [*range(1, 700), 2200, 3998, 4097]:
        size = fft_size(minimum)
        assert size >= minimum and _smooth(size) and not any(_smooth(n) for n in range(minimum, size))
