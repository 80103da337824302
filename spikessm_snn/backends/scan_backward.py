"""The BPTT backward of the neuron family as a reverse scan (time-parallel, torch).

Given a forward's firing margins ``z = h - u - r[t-1]``, spikes ``s``, potentials after reset
``v`` and traces ``r``, the loop's gradient is linear backwards in time in
``y[t] = (dL/dv[t], dL/dr[t])`` (all that reaches the state after step ``t``): with
``psi = surrogate'(z)``, ``k = 0`` under ``detach_reset`` else 1, and per step
``dv/ds = -u, dv/dh = 1`` (soft) or ``dv/ds = v_reset - h, dv/dh = 1 - s`` (hard)::

    lam_z[t] = psi (g_s + k (dv/ds dL/dv[t] + c dL/dr[t]))
    lam_h[t] = g_h + lam_z[t] + dv/dh dL/dv[t]                      (= dL/dx[t])
    dL/dv[t-1] = g_v[t-1] + tau lam_h[t]
    dL/dr[t-1] = g_r[t-1] + tau_r dL/dr[t] - lam_z[t]

so ``y[t] = A[t] y[t+1] + b[t]`` with 2x2 ``A`` from step ``t+1``, computed by
``scan.reverse_affine_scan``: the loop's gradient (and the fused backward kernel's, the same
recurrence one step at a time) to rounding, summed in another order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..neurons.dynamics import NeuronParameters, firing_margin, previous, reset_potential
from ..neurons.surrogate import Surrogate, heaviside
from .scan import reverse_affine_scan

GRADIENT_NAMES = ("g_spikes", "g_h", "g_v", "g_r", "g_v_last", "g_r_last")  # what ``grads`` may hold


class ForwardRecord(NamedTuple):
    """What the backward needs of a forward, each ``[T, N]``."""

    margin: Tensor  # z[t] = h[t] - threshold - r[t-1]
    spikes: Tensor  # s[t], 0 or 1
    v: Tensor  # v[t], after reset
    r: Tensor  # r[t]
    h: Tensor | None = None  # h[t], the charged potential; the hard reset's dv/ds = v_reset - h needs it


def _later(t: Tensor) -> Tensor:
    """``t`` one step later (``t[t+1]``), zero after the last step."""
    return torch.cat([t[1:], torch.zeros_like(t[:1])])


def bptt_by_scan(run: ForwardRecord, p: NeuronParameters, v0: Tensor, r0: Tensor, grads: dict[str, Tensor],
                 surrogate: Surrogate, detach_reset: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``dL/dx [T, N]`` and ``dL/d(tau, threshold, tau_r, refractory, v0, r0) [6, N]`` from the
    forward's ``run``, per-neuron constants ``p [N]`` and ``grads`` by ``GRADIENT_NAMES``
    (``g_spikes``, ``g_h``, ``g_v``, ``g_r`` ``[T, N]``; ``g_v_last``, ``g_r_last`` ``[N]``; a
    missing one is zero), in ``run``'s dtype."""
    if p.hard_reset and run.h is None:
        raise ValueError("the hard reset's backward needs the charged potentials h")
    zero = run.v.new_zeros(())
    gs, gh, gv, gr, g_v_last, g_r_last = (grads.get(name, zero) for name in GRADIENT_NAMES)
    tau, u, tau_r, c = p.tau, p.threshold, p.tau_r, p.refractory
    s = run.spikes
    psi = surrogate.derivative(run.margin).to(s.dtype)
    k = 0.0 if detach_reset else 1.0
    dv_ds, dv_dh = (p.v_reset - run.h, 1.0 - s) if p.hard_reset else (-u, 1.0)
    # A[t] from step t + 1's values (A[T - 1] meets y[T] = 0: what it holds does not matter)
    q = k * _later(psi)
    dv_ds_next, dv_dh_next = (_later(dv_ds), _later(dv_dh)) if p.hard_reset else (dv_ds, dv_dh)
    coefficients = (tau * (q * dv_ds_next + dv_dh_next), tau * q * c, -q * dv_ds_next, tau_r - q * c)
    constant_v = gv + _later(tau * (gh + psi * gs))
    constant_r = gr - _later(psi * gs)
    constant_v[-1] += g_v_last
    constant_r[-1] += g_r_last
    lam_v, lam_r = reverse_affine_scan(coefficients, (constant_v, constant_r))
    lam_z = psi * (gs + k * (dv_ds * lam_v + c * lam_r))
    lam_h = gh + lam_z + dv_dh * lam_v
    g_threshold = -lam_z.sum(0) if p.hard_reset else -(lam_z + s * lam_v).sum(0)
    g_params = torch.stack([
        (lam_h * previous(run.v, v0)).sum(0), g_threshold, (lam_r * previous(run.r, r0)).sum(0), (lam_r * s).sum(0),
        tau * lam_h[0], tau_r * lam_r[0] - lam_z[0],
    ])  # fmt: skip
    return lam_h, g_params


def scan_backward(h: Tensor, r_seq: Tensor, p: NeuronParameters, v0: Tensor, r0: Tensor, grads: dict[str, Tensor],
                  surrogate: Surrogate, detach_reset: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``bptt_by_scan`` from the charged potentials ``h`` and traces ``r_seq [T, N]`` alone
    (the spikes are where the margin is ``>= 0``)."""
    margin = firing_margin(h, p.threshold, previous(r_seq, r0))
    s = heaviside(margin)
    run = ForwardRecord(margin, s, reset_potential(h, s, p), r_seq, h)
    return bptt_by_scan(run, p, v0, r0, grads, surrogate, detach_reset)
