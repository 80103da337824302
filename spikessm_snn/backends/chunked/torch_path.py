"""The chunked algorithm in torch (``speculation.py``) with the scan backward
(``backends/scan_backward.py``), as ``fused.autograd.Kernels``: runs on any device, computes in
the input's dtype."""

from __future__ import annotations

import torch
from torch import Tensor

from ...neurons.dynamics import NeuronParameters, zero_state
from ..fused.autograd import ForwardRun, Kernels
from ..fused.source import KernelSpec
from ..scan_backward import scan_backward
from .launch import flag_overflow
from .speculation import speculate_and_repair


def _parameters(spec: KernelSpec, constants: Tensor, v_reset: float) -> NeuronParameters:
    """The per-neuron ``constants [4, N]`` as parameters."""
    return NeuronParameters(*constants, hard_reset=spec.hard_reset, v_reset=v_reset)


def torch_forward(spec: KernelSpec, x: Tensor, constants: Tensor, v0: Tensor | None,
                  r0: Tensor | None, v_reset: float, save: int, non_finite: Tensor | None) -> ForwardRun:  # fmt: skip
    """As the kernels' forward: spikes, ``h``, ``r`` in ``x``'s shape ``[T, ...]`` (kept for the
    backward) and the final state ``[2, ...]``."""
    flat = x.reshape(x.shape[0], -1)
    v0, r0 = zero_state(flat[0]) if v0 is None else (v0, r0)  # None: the zero state
    run = speculate_and_repair(flat, _parameters(spec, constants, v_reset), v0, r0)
    if non_finite is not None:
        non_finite.bitwise_or_((~x.isfinite().all()).to(non_finite.dtype))
    final = torch.stack([run.v_last, run.r_last]).view(2, *x.shape[1:])
    flag_overflow(non_finite, run.h, final)
    h, r_seq = run.h.view(x.shape), run.r.view(x.shape)
    return ForwardRun(run.spikes.view(x.shape), h, r_seq, (h, r_seq), final)


def torch_backward(spec: KernelSpec, saved: tuple[Tensor | None, ...], given: dict[str, Tensor], want_x: bool,
                   want_params: bool, x_dtype, v_reset: float) -> tuple[Tensor | None, Tensor | None]:  # fmt: skip
    """As the fused backward kernel, by ``scan_backward``."""
    h, r_seq, constants, v0, r0 = saved
    shape = h.shape
    h, r_seq = h.reshape(shape[0], -1), r_seq.reshape(shape[0], -1)
    p = _parameters(spec, constants, v_reset)
    sequences = {name: g.reshape(h.shape) for name, g in given.items() if name != "g_final"}
    if "g_final" in given:
        sequences["g_v_last"], sequences["g_r_last"] = given["g_final"].reshape(2, -1)
    v0, r0 = zero_state(h[0]) if v0 is None else (v0, r0)
    g_x, g_params = scan_backward(h, r_seq, p, v0, r0, sequences, spec.surrogate, spec.detach_reset)
    return (g_x.view(shape).to(x_dtype) if want_x else None), (g_params if want_params else None)


TORCH_KERNELS = Kernels("chunked", torch_forward, torch_backward)
