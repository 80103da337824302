"""Backend ``'sdn'``: the reset-LIF's spikes predicted in parallel by a trained SDN (approximate).

For a hard-reset LIF with ``v_reset = 0``, threshold ``U`` and the decay ``tau`` an SDN was
trained for: the neuron with threshold ``U`` on ``x`` is the unit-threshold neuron on ``x / U``
scaled by ``U``, so ``m = U * SDN(x / U)`` (this is how learnable thresholds stay usable, as
the SpikingSSM block's scaling by ``exp(-ln_vth)``). Then ``s = surrogate(m + x - U)`` with
``m`` computed without gradient: the gradient reaches ``x`` (and ``U``) only through the
surrogate at the same step, as in the paper (a plain autograd graph: second derivatives too).
The recorded membrane is ``(m + x)(1 - s)``.
Approximate: see the shipped weights' record for its agreement with the exact neuron.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...neurons.checks import check_finite_run
from ...neurons.dynamics import NeuronParameters, NeuronState
from ...neurons.surrogate import SpikeFunction
from ..result import MultiStepResult
from .network import SurrogateDynamicNetwork
from .training import load_sdn

SHIPPED = Path(__file__).parent / "weights" / "sdn_tau0.125.pt"
_REGISTERED: dict[float, tuple[SurrogateDynamicNetwork, dict[str, Any]]] = {}


def register_sdn(model: SurrogateDynamicNetwork, metadata: dict[str, Any]) -> None:
    """Make ``model`` the SDN for neurons with decay ``metadata['tau']``."""
    _REGISTERED[float(metadata["tau"])] = (model.eval(), metadata)


def registered_sdns() -> dict[float, tuple[SurrogateDynamicNetwork, dict[str, Any]]]:
    """Decay -> (network, metadata); the shipped SDN is registered on first use."""
    if not _REGISTERED and SHIPPED.exists():
        register_sdn(*load_sdn(SHIPPED))
    return _REGISTERED


def _sdn_for(tau: float, dtype: torch.dtype) -> tuple[SurrogateDynamicNetwork, dict[str, Any]] | None:
    """The SDN trained for ``tau`` as the neuron sees it in ``dtype`` (0.2 is 0.199951 in float16)."""
    for trained_tau, entry in registered_sdns().items():
        if math.isclose(tau, torch.tensor(trained_tau, dtype=dtype).item(), rel_tol=1e-6):
            return entry
    return None


def sdn_unsupported(x_seq: Tensor, p: NeuronParameters, spike_fn: SpikeFunction) -> str | None:
    if not p.hard_reset or p.v_reset != 0.0:
        return "the SDN models the hard-reset LIF with v_reset = 0 (ResetLIFNeuron(reset='hard'))"
    if bool((p.refractory != 0).any()):
        return "the SDN models the LIF without a refractory trace"
    taus = torch.unique(p.tau.detach().float().cpu())
    trained = sorted(registered_sdns())
    for tau in taus.tolist():
        entry = _sdn_for(tau, p.tau.dtype)
        if entry is None:
            return (f"no SDN is trained for tau={tau:g} (registered: {trained}); train one with "
                    f"'spikessm sdn-train --tau {tau:g} --out sdn.pt' and register it with "
                    "spikessm_snn.backends.sdn.register_sdn(*load_sdn('sdn.pt'))")  # fmt: skip
        limit = entry[1].get("max_steps", entry[1]["train_steps"])
        if x_seq.shape[0] > limit:
            return f"T={x_seq.shape[0]} is beyond the {limit} steps this SDN (tau={tau:g}) was validated for"
    if taus.numel() > 1:
        return "one SDN serves one decay: give every neuron the same tau"
    return None


def run_sdn(
    x_seq: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = False,
) -> MultiStepResult:
    """``x_seq [T, B, ...]`` -> predicted spikes; starts from rest (a carried state is refused).
    With ``check_finite``, NaN/inf in ``x_seq`` and a charged potential ``m + x`` beyond the
    input dtype's range raise (one reduction over every step)."""
    if bool((state.v != 0).any()):
        raise ValueError("the SDN predicts from rest: reset the neuron (a carried membrane state is not supported)")
    steps, step_shape = x_seq.shape[0], x_seq.shape[1:]
    model, _ = _sdn_for(float(p.tau.flatten()[0]), p.tau.dtype)
    threshold = p.threshold.expand(step_shape).reshape(-1)  # [N]
    x = x_seq.reshape(steps, -1)  # [T, N]
    with torch.no_grad():
        model = model.to(x.device)
        scaled = (x.detach().float() / threshold.detach().float()).T.contiguous()[:, None]  # [N, 1, T]
        m = (model(scaled).T * threshold.detach().float()).to(x.dtype)  # [T, N]
    h = m + x
    if check_finite:
        check_finite_run(x, (h,))
    spikes = spike_fn(m + x - threshold)
    v_seq = h * (1.0 - (spikes.detach() if detach_reset else spikes))
    final = NeuronState(v_seq[-1].reshape(step_shape), torch.zeros_like(v_seq[-1]).reshape(step_shape))
    spikes = spikes.reshape(x_seq.shape)
    if not record:
        return MultiStepResult(spikes, final)
    return MultiStepResult(spikes, final, v_seq.reshape(x_seq.shape), torch.zeros_like(spikes))
