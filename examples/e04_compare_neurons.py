"""SRR and ResetLIF beside SpikingJelly's LIF, PLIF, PSN and snnTorch's Leaky on one input:
spike counts, sparsity and CPU time, printed as a table and drawn as rasters.

Check: SpikingJelly's LIF and snnTorch's Leaky, given our ResetLIF's constants, fire its spikes.
"""

import sys
from pathlib import Path

import torch

from spikessm_snn import ResetLIFNeuron
from spikessm_snn.plots import compare_neurons, plot_comparison, save_figure
from spikessm_snn.zoo import comparison_neurons

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-figures")
x = 0.5 + torch.randn(100, 4, 64, generator=torch.Generator().manual_seed(2))  # [T, B, N]
zoo = comparison_neurons(x.shape[0], lif=ResetLIFNeuron(tau=0.5))  # SpikingJelly's default LIF: tau = 2
for name, neuron in zoo.items():
    print(f"{name}: {neuron.settings}")
rows, spikes = compare_neurons({name: neuron.run for name, neuron in zoo.items()}, x)
print(" | ".join(rows[0]))
for row in rows:
    print(" | ".join(str(v) for v in row.values()))
print("wrote", save_figure(plot_comparison(spikes), out / "comparison.png"))

ours = spikes["ResetLIF (ours)"]
assert ours.sum() > 0, "no spikes: the comparison would prove nothing"
for name in ("SpikingJelly LIF", "snnTorch Leaky"):
    assert torch.equal(spikes[name], ours), f"{name} differs from ResetLIF at the same constants"
    print(f"{name} == ResetLIF (ours): spike for spike")
