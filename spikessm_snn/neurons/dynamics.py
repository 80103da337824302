"""The neuron equations, once, as a pure step over explicit state.

Both neurons of the project are members of one family (``srr-and-pmbc.md``,
``spikingssm-and-sdn.md``); per neuron, input current ``x[t]``, ``v[0] = r[0] = 0``::

    h[t] = tau * v[t-1] + x[t]                       charge
    s[t] = H(h[t] - threshold - r[t-1])              fire (H(z) = 1 if z >= 0)
    v[t] = h[t] - threshold * s[t]                   soft reset   (SRR, soft ResetLIF)
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]        hard reset   (SpikingSSMs' LIF)
    r[t] = tau_r * r[t-1] + refractory * s[t]        refractory trace

SRR (SPikE-SSM) is the soft-reset member with ``refractory = v_th >= 0`` and
``threshold = U_th``; ResetLIF (SpikingSSMs) has ``refractory = 0`` (so ``r`` stays 0).
Parameters broadcast against one step's shape ``[B, ...]``; sequences are ``[T, B, ...]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .surrogate import SpikeFunction


class NeuronParameters(NamedTuple):
    """Constants of one neuron family member, each broadcastable to a step's ``[B, ...]``."""

    tau: Tensor  # membrane decay per step, in (0, 1]
    threshold: Tensor  # firing threshold (SRR's U_th), > 0; also the soft-reset amount
    tau_r: Tensor  # refractory decay per step, in [0, 1)
    refractory: Tensor  # refractory magnitude (SRR's v_th), >= 0; 0 for ResetLIF
    hard_reset: bool  # False: v = h - threshold * s; True: v = v_reset where s = 1
    v_reset: float  # hard-reset potential
    kept: bool = False  # the same constant tensors call after call (fixed ones a neuron keeps): a backend
    # may keep what it derives from them while they live (the fused kernels' stack)


class NeuronState(NamedTuple):
    """Membrane potential after reset ``v`` and refractory trace ``r``, each ``[B, ...]``."""

    v: Tensor
    r: Tensor


def zero_state(like: Tensor) -> NeuronState:
    """The state before ``t = 1``: zeros shaped like one step of input."""
    return NeuronState(torch.zeros_like(like), torch.zeros_like(like))


def charge(x: Tensor, v_prev: Tensor, tau: Tensor) -> Tensor:
    """The charged potential ``h = tau v[t-1] + x[t]``."""
    return tau * v_prev + x


def firing_margin(h: Tensor, threshold: Tensor, r_prev: Tensor) -> Tensor:
    """``z = h - threshold - r[t-1]``; the neuron fires where ``z >= 0``."""
    return h - threshold - r_prev


def previous(seq: Tensor, first: Tensor) -> Tensor:
    """The state each step of ``seq [T, ...]`` starts from: ``seq`` one step later, ``first`` at t = 0."""
    return torch.cat([first.unsqueeze(0), seq[:-1]])


def reset_potential(h: Tensor, s: Tensor, p: NeuronParameters) -> Tensor:
    """The membrane after reset from the charged potential ``h`` and the spikes ``s``."""
    if p.hard_reset:
        return h * (1.0 - s) + p.v_reset * s
    return h - p.threshold * s


def neuron_step(
    x: Tensor,
    state: NeuronState,
    p: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
) -> tuple[Tensor, NeuronState]:
    """One time step: ``x [B, ...]`` -> ``(spikes [B, ...], next state)``.

    ``detach_reset`` stops the gradient through the spikes that reset ``v`` and raise ``r``
    (SpikingJelly's ``detach_reset``); the gradient through the fired spike remains.
    """
    h = charge(x, state.v, p.tau)
    s = spike_fn(firing_margin(h, p.threshold, state.r))
    s_reset = s.detach() if detach_reset else s
    r = p.tau_r * state.r + p.refractory * s_reset
    return s, NeuronState(reset_potential(h, s_reset, p), r)
