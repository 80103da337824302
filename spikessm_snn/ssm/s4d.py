"""Diagonal state space convolution (S4D), after the minimal S4D of the state-spaces/s4 repository.

Per channel ``h`` (``H`` channels, ``N/2`` complex modes): ``A = -exp(log_A_real) + i A_imag``,
step ``dt = exp(log_dt)``, zero-order hold ``dA = exp(dt A)``, ``dB = (exp(dt A) - 1) / A``; the
kernel ``K[h, l] = 2 Re(sum_n C[h, n] dB[h, n] dA[h, n]^l)`` is applied as a causal FFT
convolution (FFT size the smallest ``2^a 3^b 5^c >= 2L``), plus the skip ``D * u``. Shapes ``u, y [B, H, L]``.

Initialisation (``spikingssm-and-sdn.md``): ``log_dt ~ U[log 0.001, log 0.1]``,
``log_A_real = log 0.5``, ``A_imag = pi n`` (S4D-Lin) or ``N/pi (N/(2n+1) - 1)`` (S4D-Inv),
``C ~ CN(0, 1)``; optionally a trainable input matrix ``B`` (init 1), and a bidirectional layer
that adds an anti-causal kernel over the future inputs (``y[t] += sum_{s > t} K'[s - t - 1] u[s]``),
as the published ListOps / sCIFAR settings use. The SSM parameters (A, dt, and B when trainable)
carry ``_optim = {"weight_decay": 0}`` (the S4 code base's mark), read by ``training`` to give them
their own learning rate (``min(lr, ssm_lr)``, ``ssm_lr = 0.001`` in the papers) and no weight decay.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class S4DKernel(nn.Module):
    """The convolution kernel ``K [H, L]`` of ``H`` independent diagonal SSMs."""

    def __init__(self, d_model: int, d_state: int = 64, init: str = "lin", dt_min: float = 0.001,
                 dt_max: float = 0.1, trainable_b: bool = False) -> None:  # fmt: skip
        super().__init__()
        if init not in ("lin", "inv"):
            raise ValueError(f"init must be 'lin' (S4D-Lin) or 'inv' (S4D-Inv), got {init!r}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be an even number >= 2, got {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        modes = d_state // 2
        n = torch.arange(modes, dtype=torch.float32).expand(d_model, modes)
        imag = math.pi * n if init == "lin" else d_state / math.pi * (d_state / (2 * n + 1) - 1)
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.C = nn.Parameter(torch.view_as_real(torch.randn(d_model, modes, dtype=torch.cfloat)))
        b = torch.view_as_real(torch.ones(d_model, modes, dtype=torch.cfloat))
        ssm_parameters = {"log_dt": log_dt, "log_A_real": torch.full((d_model, modes), math.log(0.5)),
                          "A_imag": imag.clone(), **({"B": b} if trainable_b else {})}  # fmt: skip
        if not trainable_b:
            self.B = None
            self.register_buffer("B_fixed", b)
        for name, value in ssm_parameters.items():
            self.register_parameter(name, nn.Parameter(value))
            getattr(self, name)._optim = {"weight_decay": 0.0}

    def discrete(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(C, dt A, dB)`` each ``[H, N/2]`` complex: the zero-order-hold discretisation
        (``dA = exp(dt A)``, ``dB = B (exp(dt A) - 1) / A``)."""
        a = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dt_a = torch.exp(self.log_dt).unsqueeze(-1) * a
        b = torch.view_as_complex(self.B if self.B is not None else self.B_fixed)
        return torch.view_as_complex(self.C), dt_a, b * (torch.exp(dt_a) - 1.0) / a

    def forward(self, length: int) -> Tensor:
        c, dt_a, db = self.discrete()
        powers = torch.exp(dt_a.unsqueeze(-1) * torch.arange(length, device=dt_a.device))  # dA^l, [H, N/2, L]
        return 2 * torch.einsum("hn,hnl->hl", c * db, powers).real


def fft_size(minimum: int) -> int:
    """The smallest ``2^a 3^b 5^c >= minimum``: sizes FFT libraries transform fast (a prime length
    is slow; the next power of two can be almost twice the work)."""
    best = 1 << max(minimum - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35 << max(0, (-(-minimum // power35) - 1).bit_length())  # times the power of 2 that reaches it
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


class S4DConv(nn.Module):
    """``y = K * u + D u``, causal (or bidirectional), ``u [B, H, L] -> y [B, H, L]``."""

    def __init__(self, d_model: int, d_state: int = 64, bidirectional: bool = False, **kernel_args: object) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.kernel = S4DKernel(d_model * (2 if bidirectional else 1), d_state, **kernel_args)
        self.D = nn.Parameter(torch.randn(d_model))

    def forward(self, u: Tensor) -> Tensor:
        length = u.shape[-1]
        n = fft_size(2 * length)  # >= 2L: no circular wrap-around
        k = self.kernel(length)
        if self.bidirectional:  # the second half of the channels looks at the future: negative lags at the end
            forward_k, backward_k = k.chunk(2)
            k = nn.functional.pad(forward_k, (0, n - length)) + nn.functional.pad(backward_k.flip(-1), (n - length, 0))
        y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :length]
        return y + u * self.D.unsqueeze(-1)
