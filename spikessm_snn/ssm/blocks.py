"""The S4D block and its two spiking forms, sharing everything but the activation.

    u [B, H, L] -> S4D convolution + D u -> activation -> dropout -> Conv1d(H, 2H, 1) -> GLU

- ``s4d_block``: the non-spiking baseline (GELU), as S4D.
- ``spiking_ssm_block`` (SpikingSSMs): the activation is the hard-reset LIF (tau 0.125,
  threshold 1) on the input divided by ``exp(ln_vth)``, one learnable ``ln_vth`` per channel
  (init 0), so the block's GLU sees binary spikes: a linear map of spikes.
- ``spike_ssm_block`` (SPikE-SSM, its Figure 3): the activation is the SRR neuron with its
  threshold ``U_th`` and refractory magnitude ``v_th`` trainable per channel (and optionally
  its decays ``tau``, ``tau_r``, as in the paper's Figure 5 ablation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron
from .s4d import S4DConv


class SpikingActivation(nn.Module):
    """A neuron over ``[B, H, L]`` (run as ``[L, B, H]``), optionally on ``x / exp(ln_vth)``.

    ``last_rate`` holds the mean spike rate of the last forward (spikes per neuron per step).
    """

    def __init__(self, neuron: SpikingNeuron, channels: int, learn_input_scale: bool = False) -> None:
        super().__init__()
        self.neuron = neuron
        self.ln_vth = nn.Parameter(torch.zeros(channels)) if learn_input_scale else None
        self.last_rate: float | None = None

    def forward(self, y: Tensor) -> Tensor:
        x = y.permute(2, 0, 1)  # [L, B, H]
        if self.ln_vth is not None:
            x = x / torch.exp(self.ln_vth)
        spikes = self.neuron(x).spikes
        self.last_rate = float(spikes.detach().mean())
        return spikes.permute(1, 2, 0)


class SSMBlock(nn.Module):
    """``u [B, H, L] -> [B, H, L]``: S4D convolution, activation, dropout, position-wise GLU."""

    def __init__(self, d_model: int, activation: nn.Module, d_state: int = 64, dropout: float = 0.0,
                 **kernel_args: object) -> None:  # fmt: skip
        super().__init__()
        self.conv = S4DConv(d_model, d_state, **kernel_args)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)
        self.mix = nn.Sequential(nn.Conv1d(d_model, 2 * d_model, 1), nn.GLU(dim=-2))

    def forward(self, u: Tensor) -> Tensor:
        return self.mix(self.dropout(self.activation(self.conv(u))))


def s4d_block(d_model: int, **kwargs: object) -> SSMBlock:
    return SSMBlock(d_model, nn.GELU(), **kwargs)


def spiking_ssm_block(d_model: int, backend: str = "torch", tau: float = 0.125, detach_reset: bool = False,
                      **kwargs: object) -> SSMBlock:  # fmt: skip
    neuron = ResetLIFNeuron(tau=tau, v_threshold=1.0, reset="hard", backend=backend, detach_reset=detach_reset)
    return SSMBlock(d_model, SpikingActivation(neuron, d_model, learn_input_scale=True), **kwargs)


def spike_ssm_block(
    d_model: int,
    backend: str = "torch",
    tau: float = 0.5,
    tau_r: float = 0.5,
    learn_thresholds: bool = True,
    learn_decays: bool = False,
    detach_reset: bool = False,
    **kwargs: object,
) -> SSMBlock:
    neuron = SRRNeuron(tau=tau, tau_r=tau_r, u_th=1.0, v_th=1.0, shape=(d_model,), learn_u_th=learn_thresholds,
                       learn_v_th=learn_thresholds, learn_tau=learn_decays, learn_tau_r=learn_decays,
                       backend=backend, detach_reset=detach_reset)  # fmt: skip
    return SSMBlock(d_model, SpikingActivation(neuron, d_model), **kwargs)
