"""Plot the SRR and reset-LIF dynamics on one input and save PNG and SVG."""

import sys
from pathlib import Path

import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.plots import plot_neuron_dynamics, plot_raster, save_figure

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-figures")
x = 0.4 + 0.8 * torch.randn(120, generator=torch.Generator().manual_seed(1))
fig = plot_neuron_dynamics({"SRR": SRRNeuron(tau=0.6, tau_r=0.7), "ResetLIF": ResetLIFNeuron(tau=0.5)}, x)
print("wrote", save_figure(fig, out / "dynamics.png"))
spikes = SRRNeuron()(x[:, None] + 0.5 * torch.randn(120, 40)).spikes
print("wrote", save_figure(plot_raster(spikes, "SRR, 40 neurons"), out / "raster.svg"))
