"""The BPTT backward of the neuron family as a reverse scan (time-parallel, torch).

Given the forward's charged potentials ``h`` and traces ``r``, the loop's gradient is linear
backwards in time in ``y[t] = (dL/dv[t], dL/dr[t])``: with ``z = (h - u) - r[t-1]``,
``psi = surrogate'(z)``, ``k = 0`` under ``detach_reset`` else 1, and per step
``dv/ds = -u, dv/dh = 1`` (soft) or ``dv/ds = v_reset - h, dv/dh = 1 - s`` (hard)::

    lam_z[t] = psi (g_s + k (dv/ds dL/dv[t] + c dL/dr[t]))
    lam_h[t] = g_h + lam_z[t] + dv/dh dL/dv[t]                      (= dL/dx[t])
    dL/dv[t-1] = tau lam_h[t]
    dL/dr[t-1] = g_r[t-1] + tau_r dL/dr[t] - lam_z[t]

so ``y[t] = A[t] y[t+1] + b[t]`` with 2x2 ``A`` from step ``t+1``, computed by
``scan.reverse_affine_scan``: the fused backward kernel's gradient (the same recurrence, one
step at a time) to rounding, summed in another order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...neurons.dynamics import NeuronParameters, firing_margin, previous, reset_potential
from ...neurons.surrogate import Surrogate
from ..scan import reverse_affine_scan


def _later(t: Tensor) -> Tensor:
    """``t`` one step later (``t[t+1]``), zero after the last step."""
    return torch.cat([t[1:], torch.zeros_like(t[:1])])


def scan_backward(h: Tensor, r_seq: Tensor, p: NeuronParameters, v0: Tensor, r0: Tensor, grads: dict[str, Tensor],
                  surrogate: Surrogate, detach_reset: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``dL/dx [T, N]`` and ``dL/d(tau, threshold, tau_r, refractory, v0, r0) [6, N]`` from ``h``,
    ``r_seq [T, N]``, per-neuron constants ``p`` and ``grads`` (``g_spikes``, ``g_h``, ``g_r``
    ``[T, N]``, ``g_v_last``, ``g_r_last`` ``[N]``; a missing one is zero)."""
    zero = torch.zeros_like(h)
    gs, gh, gr = (grads.get(name, zero) for name in ("g_spikes", "g_h", "g_r"))
    g_v_last, g_r_last = (grads.get(name, zero[0]) for name in ("g_v_last", "g_r_last"))
    tau, u, tau_r, c = p.tau, p.threshold, p.tau_r, p.refractory
    r_prev = previous(r_seq, r0)
    z = firing_margin(h, u, r_prev)
    s = (z >= 0).to(h.dtype)
    psi = surrogate.derivative(z).to(h.dtype)
    k = 0.0 if detach_reset else 1.0
    dv_ds, dv_dh = (p.v_reset - h, 1.0 - s) if p.hard_reset else (-u.expand_as(h), torch.ones_like(h))
    q = k * psi
    a = (tau * (q * dv_ds + dv_dh), tau * q * c, -q * dv_ds, tau_r - q * c)
    b = (tau * (gh + psi * gs), -psi * gs)
    coefficients = tuple(_later(t) for t in a)
    constant_v, constant_r = _later(b[0]), gr + _later(b[1])
    constant_v[-1] = constant_v[-1] + g_v_last
    constant_r[-1] = constant_r[-1] + g_r_last
    lam_v, lam_r = reverse_affine_scan(coefficients, (constant_v, constant_r))
    lam_z = psi * (gs + k * (dv_ds * lam_v + c * lam_r))
    lam_h = gh + lam_z + dv_dh * lam_v
    g_threshold = -lam_z.sum(0) if p.hard_reset else -(lam_z + s * lam_v).sum(0)
    v_seq = reset_potential(h, s, p)
    g_params = torch.stack([
        (lam_h * previous(v_seq, v0)).sum(0), g_threshold, (lam_r * r_prev).sum(0), (lam_r * s).sum(0),
        tau * lam_h[0], tau_r * lam_r[0] - lam_z[0],
    ])  # fmt: skip
    return lam_h, g_params
