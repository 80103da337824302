"""Neuron dynamics figure: the SRR neuron with growing refractory magnitude beside the reset-LIF.

python analysis/figure_neuron_dynamics.py --out figures/neuron_dynamics.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.plots import plot_neuron_dynamics, save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures/neuron_dynamics.png"))
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    x = 0.6 + 0.7 * torch.randn(args.steps, generator=torch.Generator().manual_seed(0))
    neurons = {
        "ResetLIF (SpikingSSMs), tau 0.5": ResetLIFNeuron(tau=0.5),
        "SRR, v_th = 0 (soft-reset LIF)": SRRNeuron(tau=0.5, tau_r=0.8, v_th=0.0),
        "SRR, v_th = 0.5": SRRNeuron(tau=0.5, tau_r=0.8, v_th=0.5),
        "SRR, v_th = 1.5": SRRNeuron(tau=0.5, tau_r=0.8, v_th=1.5),
    }
    print("wrote", save_figure(plot_neuron_dynamics(neurons, x), args.out))


if __name__ == "__main__":
    main()
