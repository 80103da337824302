"""Membrane potential and refractory trace of single neurons, with thresholds and spikes."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..neuron_modules import SpikingNeuron
from ..neurons.dynamics import charge, previous
from .style import new_figure


def plot_neuron_dynamics(neurons: Mapping[str, SpikingNeuron], x: Tensor) -> Figure:
    """One column per neuron driven by the current ``x [T]``: the input; the charged potential
    ``h[t] = tau v[t-1] + x[t]`` against the threshold ``U_th`` and the effective threshold
    ``U_th + r[t-1]``, a marker at each spike; the refractory trace ``r``."""
    steps = torch.arange(1, x.shape[0] + 1)
    fig, axes = new_figure(4, len(neurons), 5.2 * len(neurons), 8.0, sharex=True,
                           gridspec_kw={"height_ratios": [1, 2.4, 1, 0.5]})  # fmt: skip
    for col, (name, neuron) in enumerate(neurons.items()):
        with torch.no_grad():
            result = neuron(x.reshape(-1, 1).float(), record=True)
            p = neuron.parameters_for(x.reshape(-1, 1).float())
        v, r, s = result.v_seq[:, 0], result.r_seq[:, 0], result.spikes[:, 0]
        zero = torch.zeros(())
        h = charge(x, previous(v, zero), p.tau.flatten()[0])
        r_prev = previous(r, zero)
        u_th = float(p.threshold.flatten()[0])
        ax_x, ax_h, ax_r, ax_s = axes[:, col]
        ax_x.plot(steps, x, color="0.35", lw=0.9)
        ax_x.set_title(name, fontsize=10)
        ax_x.set_ylabel("input x[t]")
        ax_h.plot(steps, h, lw=1.0, label="charged potential h[t]")
        ax_h.axhline(u_th, color="0.5", lw=0.8, ls=":", label=f"threshold U_th = {u_th:g}")
        ax_h.plot(steps, u_th + r_prev, color="tab:red", lw=1.0, ls="--", label="effective threshold U_th + r[t-1]")
        fired = s > 0
        ax_h.scatter(steps[fired], h[fired], s=14, color="black", zorder=3, label=f"spike ({int(fired.sum())})")
        ax_h.set_ylabel("potential (a.u.)")
        ax_h.legend(loc="upper right", fontsize=7)
        ax_r.plot(steps, r, color="tab:purple", lw=1.0)
        ax_r.set_ylabel("refractory r[t]")
        ax_s.eventplot(steps[fired].tolist(), colors="k", linelengths=0.8)
        ax_s.set_yticks([])
        ax_s.set_ylabel("spikes")
        ax_s.set_xlabel("time step t")
    fig.tight_layout()
    return fig
