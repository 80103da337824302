"""SRR and ResetLIF beside SpikingJelly's LIF, PLIF, PSN and snnTorch's Leaky on one input:
spike counts, sparsity and CPU time, printed as a table and drawn as rasters."""

import sys
from pathlib import Path

import torch

from spikessm_snn.plots import compare_neurons, plot_comparison, save_figure
from spikessm_snn.zoo import comparison_neurons

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-figures")
x = 0.5 + torch.randn(100, 4, 64, generator=torch.Generator().manual_seed(2))  # [T, B, N]
rows, spikes = compare_neurons(comparison_neurons(x.shape[0]), x)
print(" | ".join(rows[0]))
for row in rows:
    print(" | ".join(str(v) for v in row.values()))
print("wrote", save_figure(plot_comparison(spikes), out / "comparison.png"))
