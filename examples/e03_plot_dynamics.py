"""Plot the SRR and reset-LIF dynamics on one input and save PNG and SVG.

Check: the SRR neuron's spikes are those of the paper's equations written out by hand below.
"""

import sys
from pathlib import Path

import torch

from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.plots import plot_neuron_dynamics, plot_raster, save_figure


def srr_by_hand(x: list[float], tau: float, tau_r: float, u_th: float, v_th: float) -> list[float]:
    """SPikE-SSM's SRR: h = tau v + x; s = H(h - U_th - r); v = h - U_th s; r = tau_r r + v_th s."""
    v = r = 0.0
    spikes = []
    for x_t in x:
        h = tau * v + x_t
        s = 1.0 if h - u_th - r >= 0 else 0.0
        v, r = h - u_th * s, tau_r * r + v_th * s
        spikes.append(s)
    return spikes


out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-figures")
x = 0.4 + 0.8 * torch.randn(120, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
srr = SRRNeuron(tau=0.6, tau_r=0.7, u_th=1.0, v_th=1.0)
fig = plot_neuron_dynamics({"SRR (tau 0.6, tau_r 0.7)": srr, "ResetLIF (tau 0.5)": ResetLIFNeuron(tau=0.5)}, x)
print("wrote", save_figure(fig, out / "dynamics.png"))

spikes = srr(x[:, None]).spikes[:, 0].tolist()
expected = srr_by_hand(x.tolist(), tau=0.6, tau_r=0.7, u_th=1.0, v_th=1.0)
print(f"SRR spikes: {int(sum(spikes))} of {len(spikes)} steps; equal to the equations by hand: {spikes == expected}")
assert sum(expected) > 0 and spikes == expected, "SRRNeuron does not follow the SRR equations"

population = SRRNeuron()(x[:, None] + 0.5 * torch.randn(120, 40, dtype=torch.float64)).spikes
print("wrote", save_figure(plot_raster(population, "SRR, 40 neurons"), out / "raster.svg"))
