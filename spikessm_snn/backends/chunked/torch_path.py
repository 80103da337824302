"""The chunked algorithm in torch (``speculation.py``) with the scan backward
(``backends/scan_backward.py``), as ``fused.autograd.Kernels``: runs on any device, computes in
the input's dtype."""

from __future__ import annotations

from torch import Tensor

from ...neurons.dynamics import NeuronParameters
from ..fused.autograd import ForwardRun, Kernels
from ..fused.source import KernelSpec
from ..scan_backward import scan_backward
from .launch import flag_overflow
from .speculation import speculate_and_repair


def _parameters(spec: KernelSpec, constants: list[Tensor] | tuple[Tensor, ...], v_reset: float) -> NeuronParameters:
    return NeuronParameters(*constants, hard_reset=spec.hard_reset, v_reset=v_reset)


def torch_forward(spec: KernelSpec, x: Tensor, constants: tuple[Tensor, ...], v0: Tensor, r0: Tensor,
                  v_reset: float, save: int, non_finite: Tensor | None) -> ForwardRun:  # fmt: skip
    """As the kernels' forward: spikes, ``h``, ``r`` ``[T, N]`` (kept for the backward) and the final
    ``v``, ``r`` ``[N]``."""
    run = speculate_and_repair(x, _parameters(spec, constants, v_reset), v0, r0)
    if non_finite is not None:
        non_finite.bitwise_or_((~x.isfinite().all()).to(non_finite.dtype))
    flag_overflow(non_finite, run.h, run.r_last)
    return ForwardRun(run.spikes, run.h, run.r, (run.h, run.r), run.v_last, run.r_last)


def torch_backward(spec: KernelSpec, saved: tuple[Tensor, ...], given: dict[str, Tensor], want_x: bool,
                   x_dtype, v_reset: float) -> tuple[Tensor | None, Tensor]:  # fmt: skip
    """As the fused backward kernel, by ``scan_backward``."""
    h, r_seq, *constants, v0, r0 = saved
    p = _parameters(spec, constants, v_reset)
    g_x, g_params = scan_backward(h, r_seq, p, v0, r0, given, spec.surrogate, spec.detach_reset)
    return (g_x.to(x_dtype) if want_x else None), g_params


TORCH_KERNELS = Kernels("chunked", torch_forward, torch_backward)
