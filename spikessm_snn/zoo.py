"""The neurons users compare ours with, each as a function ``x [T, B, N] -> spikes [T, B, N]``.

Ours (SRR, ResetLIF), SpikingJelly's LIF, PLIF and PSN, and snnTorch's Leaky (stepped in a
loop, as snnTorch runs), each present only when its framework is installed. Settings: decay 0.5
per step where a neuron has one (SpikingJelly ``tau = 2``, ``decay_input=False``), threshold 1.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import torch
from torch import Tensor

from .neuron_modules import ResetLIFNeuron, SRRNeuron

Runner = Callable[[Tensor], Tensor]


def comparison_neurons(steps: int) -> dict[str, Runner]:
    """Name -> runner, for inputs of ``steps`` time steps (PSN is built for a fixed T)."""
    srr, lif = SRRNeuron(tau=0.5, tau_r=0.5, u_th=1.0, v_th=1.0), ResetLIFNeuron(tau=0.5, v_threshold=1.0)
    zoo: dict[str, Runner] = {
        "SRR (ours)": lambda x: srr(x).spikes,
        "ResetLIF hard (ours)": lambda x: lif(x).spikes,
    }
    with suppress(ImportError):
        from spikingjelly.activation_based import functional
        from spikingjelly.activation_based import neuron as sj

        def stateful(node: torch.nn.Module) -> Runner:
            def run(x: Tensor) -> Tensor:
                functional.reset_net(node)
                return node(x)

            return run

        zoo["SpikingJelly LIF"] = stateful(sj.LIFNode(tau=2.0, decay_input=False, step_mode="m"))
        zoo["SpikingJelly PLIF"] = stateful(sj.ParametricLIFNode(init_tau=2.0, decay_input=False, step_mode="m"))
        psn = sj.PSN(T=steps)
        zoo["SpikingJelly PSN"] = lambda x: psn(x.flatten(1)).reshape(x.shape)
    with suppress(ImportError):
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, threshold=1.0)

        def run_leaky(x: Tensor) -> Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for x_t in x:
                spk, mem = leaky(x_t, mem)
                out.append(spk)
            return torch.stack(out)

        zoo["snnTorch Leaky"] = run_leaky
    return zoo
