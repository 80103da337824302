"""The neurons users compare ours with, each as a function ``x [T, B, N] -> spikes [T, B, N]``.

Ours (SRR, ResetLIF), SpikingJelly's LIF, PLIF and PSN, and snnTorch's Leaky (stepped in a
loop, as snnTorch runs), each present only when its framework is installed. The leaky
integrate-and-fire neurons of the frameworks take our ResetLIF's constants: per-step decay
``tau`` (SpikingJelly's time constant ``1 / (1 - tau)`` with ``decay_input=False``, snnTorch's
``beta = tau``), its threshold and its reset, so that on the same input they give its spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import NamedTuple

import torch
from torch import Tensor

from .neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron

Runner = Callable[[Tensor], Tensor]


class ComparedNeuron(NamedTuple):
    """A neuron to compare: how to run it and the constants it runs with, in words."""

    run: Runner
    settings: str


def describe_neuron(neuron: SpikingNeuron) -> str:
    """The constants of one of our neurons, as the report states them (scalar constants)."""
    tau, threshold = float(neuron.tau()), float(neuron.threshold())
    if isinstance(neuron, SRRNeuron):
        return f"tau={tau:g}, tau_r={float(neuron.tau_r()):g}, U_th={threshold:g}, v_th={float(neuron.refractory()):g}"
    reset = f"hard reset to {neuron.v_reset:g}" if neuron.hard_reset else "soft reset"
    return f"tau={tau:g}, threshold={threshold:g}, {reset}"


def _multi_step(neuron: SpikingNeuron) -> Runner:
    return lambda x: neuron(x).spikes


def comparison_neurons(steps: int, srr: SRRNeuron | None = None, lif: ResetLIFNeuron | None = None,
                       seed: int = 0) -> dict[str, ComparedNeuron]:  # fmt: skip
    """Name -> neuron, for inputs of ``steps`` time steps (PSN is built for a fixed T, its
    weights drawn with ``seed``). ``srr`` and ``lif`` default to our neurons' defaults; the
    frameworks' LIF neurons copy ``lif``'s decay, threshold and reset."""
    srr, lif = srr or SRRNeuron(), lif or ResetLIFNeuron()
    decay, threshold = float(lif.tau()), float(lif.threshold())
    if not 0 < decay < 1:
        raise ValueError(f"the frameworks' LIF neurons need a decay in (0, 1), got tau={decay:g}")
    zoo = {
        "SRR (ours)": ComparedNeuron(_multi_step(srr), describe_neuron(srr)),
        "ResetLIF (ours)": ComparedNeuron(_multi_step(lif), describe_neuron(lif)),
    }
    with suppress(ImportError):
        from spikingjelly.activation_based import functional
        from spikingjelly.activation_based import neuron as sj

        def stateful(node: torch.nn.Module) -> Runner:
            def run(x: Tensor) -> Tensor:
                functional.reset_net(node)
                return node(x)

            return run

        time_constant = 1.0 / (1.0 - decay)
        common = {"decay_input": False, "v_threshold": threshold, "v_reset": lif.v_reset if lif.hard_reset else None}
        reset = f"hard reset to {lif.v_reset:g}" if lif.hard_reset else "soft reset"
        zoo["SpikingJelly LIF"] = ComparedNeuron(
            stateful(sj.LIFNode(tau=time_constant, step_mode="m", **common)),
            f"tau={time_constant:.4g} (decay {decay:g} a step), decay_input=False, v_threshold={threshold:g}, {reset}",
        )
        zoo["SpikingJelly PLIF"] = ComparedNeuron(
            stateful(sj.ParametricLIFNode(init_tau=time_constant, step_mode="m", **common)),
            f"init_tau={time_constant:.4g} (learnable, untrained), decay_input=False, v_threshold={threshold:g}, "
            f"{reset}",
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            psn = sj.PSN(T=steps)
        zoo["SpikingJelly PSN"] = ComparedNeuron(
            lambda x: psn(x.flatten(1)).reshape(x.shape),
            f"T={steps}, SpikingJelly's initial weights (seed {seed}, untrained), no decay or reset",
        )
    with suppress(ImportError):
        import snntorch

        mechanism = "zero" if lif.hard_reset and lif.v_reset == 0 else "subtract"
        leaky = snntorch.Leaky(beta=decay, threshold=threshold, reset_mechanism=mechanism)

        def run_leaky(x: Tensor) -> Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for x_t in x:
                spk, mem = leaky(x_t, mem)
                out.append(spk)
            return torch.stack(out)

        zoo["snnTorch Leaky"] = ComparedNeuron(
            run_leaky, f"beta={decay:g}, threshold={threshold:g}, reset_mechanism={mechanism!r}"
        )
    return zoo
