"""The one table of multi-step backends: their names, whether each can run here, and why not.

A backend is a function ``(x_seq, state, params, spike_fn, detach_reset, record, check_finite)
-> MultiStepResult`` (see ``reference.run_reference``); with ``check_finite`` it raises for NaN/inf
in ``x_seq`` and for a state that overflowed the input's dtype, each as its arithmetic allows
(after the run where that costs no more). Two questions decide whether it runs:
``installed()`` (this machine: libraries, GPU) is asked when the backend is selected;
``unsupported(x_seq, params, spike_fn)`` (these inputs) is asked at every call. Each
answers ``None`` when fine, else the reason, which the error shows to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..neurons.dynamics import NeuronParameters, NeuronState, zero_state
from ..neurons.surrogate import SpikeFunction
from .auto import resolved_backend
from .chunked import chunked_unsupported, run_chunked
from .fused import cupy_missing, fused_unsupported, run_fused
from .fused.autograd import backward_follows
from .pmbc import pmbc_unsupported, run_pmbc
from .reference import run_reference
from .result import BackendUnavailableError, MultiStepResult
from .sdn import run_sdn, sdn_unsupported

Runner = Callable[..., MultiStepResult]


def _always(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Backend:
    name: str
    exact: bool  # spikes equal the reference's
    run: Runner
    installed: Callable[[], str | None] = _always
    unsupported: Callable[[Tensor, NeuronParameters, SpikeFunction], str | None] = _always
    # float16/bfloat16 input computed in float32 on the upcast input, the constants taken in float32
    # (the others compute in the input's dtype, constants rounded to it, as a plain torch loop does)
    half_in_float32: bool = False
    # takes ``state=None`` for the zero state (its kernels read zeros; none are made); the others are
    # handed ``zero_state`` by ``run_backend``
    zero_start: bool = False


BACKENDS: dict[str, Backend] = {
    "torch": Backend("torch", exact=True, run=run_reference),
    "pmbc": Backend("pmbc", exact=True, run=run_pmbc, unsupported=pmbc_unsupported),
    "sdn": Backend("sdn", exact=False, run=run_sdn, unsupported=sdn_unsupported),
    "cupy": Backend(
        "cupy",
        exact=True,
        run=run_fused,
        installed=cupy_missing,
        unsupported=fused_unsupported,
        half_in_float32=True,
        zero_start=True,
    ),
    # CUDA kernels on a CUDA tensor where CuPy is installed, else the same algorithm in torch
    "chunked": Backend("chunked", exact=True, run=run_chunked, unsupported=chunked_unsupported, zero_start=True),
}


def _auto_choice(x_seq: Tensor, state: NeuronState | None, params: NeuronParameters, spike_fn: SpikeFunction) -> str:
    """The backend ``'auto'`` picks for a call made without a neuron (its soft-reset decay unknown)."""
    given = () if state is None else state
    backward = backward_follows(x_seq, *given, params.tau, params.threshold, params.tau_r, params.refractory)
    return resolved_backend("auto", x_seq, spike_fn, None, params.hard_reset, backward)


def _run_auto(x_seq: Tensor, state: NeuronState | None, params: NeuronParameters, spike_fn: SpikeFunction,
              *args: object) -> MultiStepResult:  # fmt: skip
    return run_backend("auto", x_seq, state, params, spike_fn, *args)


# the fastest exact backend for the call (``auto.chosen_backend``); the neuron resolves it first
BACKENDS["auto"] = Backend("auto", exact=True, run=_run_auto)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; raises if unknown or not installed on this machine."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {sorted(BACKENDS)}")
    backend = BACKENDS[name]
    reason = backend.installed()
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is not available here: {reason}")
    return backend


def constants_dtype(name: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype backend ``name`` takes the neuron constants in, for input of ``dtype``."""
    if dtype in (torch.float16, torch.bfloat16) and BACKENDS[name].half_in_float32:  # 'auto': resolve it first
        return torch.float32
    return dtype


def run_backend(
    name: str,
    x_seq: Tensor,
    state: NeuronState | None,
    params: NeuronParameters,
    spike_fn: SpikeFunction,
    detach_reset: bool = False,
    record: bool = False,
    check_finite: bool = True,
) -> MultiStepResult:
    """Run backend ``name`` (``'auto'``: the one it picks) from ``state`` (``None``: the zero state)
    after asking whether it supports these inputs; NaN/inf in ``x_seq`` and a state that overflowed
    raise when ``check_finite``."""
    backend = get_backend(_auto_choice(x_seq, state, params, spike_fn) if name == "auto" else name)
    reason = backend.unsupported(x_seq, params, spike_fn)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} cannot run this call: {reason}")
    if state is None and not backend.zero_start:
        state = zero_state(x_seq[0])
    return backend.run(x_seq, state, params, spike_fn, detach_reset, record, check_finite)


def available_backends() -> dict[str, str | None]:
    """Every backend name -> ``None`` if installed here, else why not."""
    return {name: b.installed() for name, b in BACKENDS.items()}
