"""Membrane potential and refractory trace of single neurons, with threshold and spikes."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

from ..backends.result import MultiStepResult


def plot_neuron_dynamics(x: Tensor, runs: Mapping[str, tuple[MultiStepResult, float]]) -> Figure:
    """One column per neuron: input current, membrane (after reset) with the effective
    threshold ``U_th + r``, and spike times. ``x [T]``; ``runs`` name -> (recorded result of
    one neuron ``[T]``, its threshold)."""
    t = range(1, x.shape[0] + 1)
    fig, axes = plt.subplots(
        3,
        len(runs),
        figsize=(5.5 * len(runs), 6.5),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [1, 2.2, 0.6]},
    )
    for col, (name, (result, threshold)) in enumerate(runs.items()):
        ax_x, ax_v, ax_s = axes[:, col]
        ax_x.plot(t, x.cpu(), color="0.4", lw=0.9)
        ax_x.set_title(name)
        ax_x.set_ylabel("input x[t]")
        ax_v.plot(t, result.v_seq.cpu(), lw=1.0, label="membrane v (after reset)")
        effective = threshold + result.r_seq.cpu()
        ax_v.plot(t, effective, color="tab:red", lw=1.0, ls="--", label="threshold U_th + r (refractory)")
        ax_v.set_ylabel("potential (a.u.)")
        ax_v.legend(loc="upper right", fontsize=8)
        spike_times = [i + 1 for i, s in enumerate(result.spikes.cpu().tolist()) if s > 0]
        ax_s.eventplot(spike_times, colors="k", linelengths=0.8)
        ax_s.set_yticks([])
        ax_s.set_ylabel("spikes")
        ax_s.set_xlabel(f"time step t ({len(spike_times)} spikes)")
    fig.tight_layout()
    return fig
