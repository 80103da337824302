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
    """A neuron over ``[B, H, L]`` (run as ``[L, B, H]``, a view: ``'cupy'`` reads it and writes the
    spikes in that layout, no copy), optionally on ``x / exp(ln_vth)``, computed as
    ``x * exp(-ln_vth)``: the same map (up to rounding), whose backward makes two elementwise passes
    over ``x`` and a sum where a division's makes five and a sum.

    Its trainable constants (``ln_vth``, the neuron's thresholds and decays) are marked ``_optim``
    like the SSM parameters: the trainer gives them the SSM learning rate and no weight decay (a
    threshold at the full rate ran away on ListOps: ``ln_vth`` reached -9, its gradients 1e8).

    It counts its spikes on the device, over the real steps when a ``mask [B, 1, L]`` is given, with
    no host synchronisation, in place (a step captured in a CUDA graph counts at every replay):
    ``spike_rate()`` (spikes per neuron per step since ``reset_spike_count()``) reads the count once.
    """

    def __init__(self, neuron: SpikingNeuron, channels: int, learn_input_scale: bool = False) -> None:
        super().__init__()
        self.neuron = neuron
        self.ln_vth = nn.Parameter(torch.zeros(channels)) if learn_input_scale else None
        for parameter in self.parameters():  # thresholds and decays are dynamics, trained as the SSM's A and dt
            parameter._optim = {"weight_decay": 0.0}
        self._spikes: Tensor | None = None  # the counts, on the device of the first step (_counts)
        self._steps: Tensor | None = None

    def forward(self, y: Tensor, mask: Tensor | None = None) -> Tensor:
        x = y.permute(2, 0, 1)  # [L, B, H]
        if self.ln_vth is not None:
            x = x * torch.exp(-self.ln_vth)
        spikes = self.neuron(x).spikes.permute(1, 2, 0)  # [B, H, L]
        with torch.no_grad():
            counted, steps = self._counts(spikes.device)
            if mask is None:
                counted.add_(spikes.count_nonzero())
                steps.add_(spikes.numel())
            else:
                counted.add_((spikes * mask).count_nonzero())
                steps.add_(mask.count_nonzero() * spikes.shape[1])
        return spikes

    def _counts(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """The spike and step counts on ``device``, made there at the first step outside inference mode
        (later steps count into them in place, in inference mode or not)."""
        if self._spikes is None or self._spikes.device != device:
            with torch.inference_mode(False):
                self._spikes, self._steps = torch.zeros(2, dtype=torch.int64, device=device).unbind()
        return self._spikes, self._steps

    def reset_spike_count(self) -> None:
        """Zero the counts (in place: a CUDA graph that captured a step goes on counting into them)."""
        if self._spikes is not None:
            self._spikes.zero_()
            self._steps.zero_()

    def spike_rate(self) -> float | None:
        """Spikes per neuron per step since the last ``reset_spike_count()`` (None before any step)."""
        steps = 0 if self._steps is None else int(self._steps)
        return int(self._spikes) / steps if steps else None


class SSMBlock(nn.Module):
    """``u [B, H, L] -> [B, H, L]``: S4D convolution, activation, dropout, position-wise GLU."""

    def __init__(self, d_model: int, activation: nn.Module, d_state: int = 64, dropout: float = 0.0,
                 **kernel_args: object) -> None:  # fmt: skip
        super().__init__()
        self.conv = S4DConv(d_model, d_state, **kernel_args)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)
        self.mix = nn.Sequential(nn.Conv1d(d_model, 2 * d_model, 1), nn.GLU(dim=-2))

    def forward(self, u: Tensor, mask: Tensor | None = None) -> Tensor:
        """``mask [B, 1, L]`` (1 on real steps) lets a spiking activation count the real steps only."""
        y = self.conv(u)
        y = self.activation(y, mask) if isinstance(self.activation, SpikingActivation) else self.activation(y)
        return self.mix(self.dropout(y))


def spike_rates(model: nn.Module) -> dict[str, float]:
    """Spikes per neuron per step of every ``SpikingActivation`` in ``model`` since its counts were reset."""
    rates = {name: m.spike_rate() for name, m in model.named_modules() if isinstance(m, SpikingActivation)}
    return {name: rate for name, rate in rates.items() if rate is not None}


def reset_spike_counts(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, SpikingActivation):
            module.reset_spike_count()


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
