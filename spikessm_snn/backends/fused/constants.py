"""The neuron constants as the kernels read them: ``[4, N]`` (tau, threshold, tau_r, refractory), one
value per neuron, in the accumulator type.

Stacking them is a copy and a handful of host operations a call. Values their owner keeps (a
neuron's fixed constants, rounded once per dtype: the same tensor objects call after call, said by
``kept``) are stacked once and the stack kept as long as those values live, keyed by their
identities and version counters (an in-place change, or another tensor, misses), the step shape and
the dtype. A stack is never dropped while its values live: a CUDA graph that captured a call goes on
reading it. One made under inference mode is a normal tensor, so that a later call with gradients
can save it. Other values (made anew at each call, as a trained constant's; an inference tensor,
which keeps no version counter; one that takes a gradient, so that autograd sees the stack) are
stacked at every call, and nothing is kept for them.
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from ...neurons.parameters import as_dtype

_kept: dict[tuple, Tensor] = {}  # stacks of live values; an entry goes when one of its values is freed


def _stack(values: tuple[Tensor, ...], step_shape: torch.Size, acc: torch.dtype) -> Tensor:
    return torch.stack([as_dtype(value, acc).expand(step_shape) for value in values]).reshape(4, -1)  # one copy


def stacked_constants(values: tuple[Tensor, ...], step_shape: torch.Size, acc: torch.dtype, kept: bool) -> Tensor:
    """``values`` (each broadcastable to ``step_shape``) as ``[4, prod(step_shape)]`` in ``acc``;
    ``kept``: their owner holds the same tensors call after call (their stack is kept with them)."""
    if not kept or any(value.requires_grad or value.is_inference() for value in values):
        return _stack(values, step_shape, acc)
    key = (tuple(id(value) for value in values), tuple(value._version for value in values), step_shape, acc)
    found = _kept.get(key)
    if found is not None:
        return found
    with torch.inference_mode(False):  # a normal tensor, which a later call with gradients can save
        stacked = _kept[key] = _stack(values, step_shape, acc)
    for value in set(values):  # a value's id can be reused only after it is freed, and its entries with it
        weakref.finalize(value, _kept.pop, key, None)
    return stacked
