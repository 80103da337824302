"""Neuron constants, fixed or trainable, held exactly and checked where they are used.

A fixed constant is a float64 buffer holding the value given, kept float64 through ``.float()``,
``.double()``, ``.half()`` (a float32 buffer would turn ``tau=0.9`` into 0.8999999761581421
under ``.double()``); ``in_dtype`` rounds it to the input's dtype once per dtype, until it changes. A trainable one
is an unconstrained ``raw`` parameter in the module's dtype (its initial value rounded to it),
mapped into its range: decays ``sigmoid(raw)``, thresholds and refractory magnitudes
``softplus(raw)`` (as suggested in ``srr-and-pmbc.md``), clamped so that rounding cannot put the
value on a bound the open interval excludes.

Construction refuses values outside the range or outside float32's normal range (``u_th=1e-50``
would be 0 in float32). ``check_in_range`` checks the values in the input's dtype where they
are used: a stored value changed by ``load_state_dict`` or in place, a trainable one whose raw
parameter became NaN, or a value that rounds out of range in float16 raise an error naming the
constant. A value found in range is not checked again until it changes (its version counter),
so a fixed constant costs one check (one host sync on a GPU) per dtype, not one per call. A
trainable one changes at every optimizer step: it is checked with the neuron's ``check_finite``
only, so that without it a training step waits for nothing (and can be captured in a CUDA graph).

``known_max()`` is a constant's largest value as known on the host, without reading the device
(``'auto'`` looks at it): a fixed one's value given, until the stored value changes; after a
change, the largest value the range check found (in the check's one reduction); ``None`` before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Range(NamedTuple):
    low: float
    low_included: bool
    high: float
    high_included: bool
    text: str


RANGES: dict[str, Range] = {
    "decay": Range(0.0, False, 1.0, True, "in (0, 1]"),
    "refractory_decay": Range(0.0, True, 1.0, False, "in [0, 1)"),
    "positive": Range(0.0, False, math.inf, False, "> 0"),
    "nonnegative": Range(0.0, True, math.inf, False, ">= 0"),
}
_FLOAT32 = torch.finfo(torch.float32)


def as_dtype(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t`` in ``dtype``: itself where it already is (``t.to(dtype)`` would return it too, after about
    2 µs of argument parsing on the host, several times a neuron call)."""
    return t if t.dtype == dtype else t.to(dtype)


def _in_range(value: float, kind: str, trainable: bool) -> bool:
    low, low_in, high, high_in, _ = RANGES[kind]
    if trainable:  # the trainable maps reach open intervals only
        low_in, high_in = False, False
    return (value > low or (low_in and value == low)) and (value < high or (high_in and value == high))


def _outside(value: Tensor, kind: str) -> Tensor:
    """Where ``value`` is NaN, inf or out of its range (elementwise, bool)."""
    low, low_in, high, high_in, _ = RANGES[kind]
    below = value < low if low_in else value <= low
    above = value > high if high_in else value >= high
    return below | above | ~torch.isfinite(value)


def _version(t: Tensor) -> int | None:
    try:
        return t._version
    except RuntimeError:  # inference tensors keep no version counter: check at every use
        return None


class ConstrainedParameter(nn.Module):
    """One neuron constant of shape ``shape`` (``()`` shared, ``(D,)`` per channel, ...)."""

    def __init__(self, name: str, value: float, kind: str, trainable: bool, shape: Sequence[int] = ()) -> None:
        super().__init__()
        value = float(value)
        if not math.isfinite(value) or not _in_range(value, kind, trainable):
            extra = " (a trainable one must lie strictly inside its range)" if trainable else ""
            raise ValueError(f"{name} must be {RANGES[kind].text}{extra}, got {value}")
        if value != 0 and not _FLOAT32.tiny <= abs(value) <= _FLOAT32.max:
            raise ValueError(
                f"{name}={value:g} is outside float32's normal range ({_FLOAT32.tiny:.3g} .. {_FLOAT32.max:.3g}); "
                "the neurons compute in the input's dtype"
            )
        self.name, self.kind, self.trainable = name, kind, trainable
        exact = torch.full(tuple(shape), value, dtype=torch.float64)
        self._checked: tuple[Any, ...] | None = None  # (stored tensor, version, dtype) last found in range
        self._rounded: tuple[Any, ...] | None = None  # (stored tensor, version, dtype, the value in dtype)
        self._known: tuple[Any, ...] | None = None  # (stored tensor, version, largest value) known on the host
        if not trainable:
            self.register_buffer("value", exact)
            self._known = (self.value, _version(self.value), value)
        elif kind in ("decay", "refractory_decay"):
            self.raw = nn.Parameter(torch.logit(exact).to(torch.get_default_dtype()))
        else:
            self.raw = nn.Parameter((exact + torch.log(-torch.expm1(-exact))).to(torch.get_default_dtype()))

    def forward(self) -> Tensor:
        if not self.trainable:
            return self.value
        if self.kind in ("decay", "refractory_decay"):
            return torch.sigmoid(self.raw)
        return F.softplus(self.raw)

    def in_dtype(self, dtype: torch.dtype) -> Tensor:
        """The value rounded to ``dtype``; a trainable one clamped inside its open interval there. A
        fixed one is rounded once per dtype and kept until the buffer changes (no work per call)."""
        if not self.trainable:
            return self._fixed_in(dtype)
        value = as_dtype(self.forward(), dtype)
        info = torch.finfo(dtype)
        if self.kind in ("decay", "refractory_decay"):
            return value.clamp(info.tiny, 1.0 - info.eps / 2)  # the largest float below 1
        return value.clamp(min=info.tiny)

    def _fixed_in(self, dtype: torch.dtype) -> Tensor:
        if self._rounded is not None and self._unchanged(*self._rounded[:2]) and self._rounded[2] == dtype:
            return self._rounded[3]
        rounded = self.value.to(dtype)
        if not rounded.is_inference():  # an inference tensor cannot join a graph later
            self._rounded = (self.value, _version(self.value), dtype, rounded)
        return rounded

    def _apply(self, fn: Any, recurse: bool = True) -> ConstrainedParameter:
        """Moves follow the module; a fixed value stays float64 (``.float()``/``.half()`` keep it exact)."""
        exact = None if self.trainable else self.value
        largest = self.known_max()
        super()._apply(fn, recurse)
        if exact is not None and self.value.dtype != torch.float64:
            self.value = exact.to(self.value.device)
        # a fixed value moves unchanged; a trainable one may be rounded (``.half()``)
        self._known = None if exact is None or largest is None else (self.value, _version(self.value), largest)
        return self

    def _stored(self) -> Tensor:
        return self.raw if self.trainable else self.value

    def _unchanged(self, stored: Tensor, version: int | None) -> bool:
        """``stored`` (at ``version``) is still the stored tensor, unchanged since (an inference
        tensor keeps no version: never known unchanged)."""
        return stored is self._stored() and version is not None and version == _version(stored)

    def checked_for(self, dtype: torch.dtype) -> bool:
        return self._checked is not None and self._unchanged(*self._checked[:2]) and self._checked[2] == dtype

    def mark_checked(self, dtype: torch.dtype, largest: float) -> None:
        """Found in range in ``dtype``, its largest stored value ``largest``."""
        stored = self._stored()
        self._checked = (stored, _version(stored), dtype)
        self._known = (stored, _version(stored), largest)

    def known_max(self) -> float | None:
        """The largest element of the value (float64), as known on the host while the stored tensor
        is the one it was known for and unchanged; else ``None``. Reads nothing from the device."""
        return self._known[2] if self._known is not None and self._unchanged(*self._known[:2]) else None

    def extra_repr(self) -> str:
        return f"{self.name}, {'trainable' if self.trainable else 'fixed'}, shape={tuple(self().shape)}"


def check_in_range(
    constants: Sequence[nn.Module], values: Sequence[Tensor], dtype: torch.dtype, trainable: bool = True
) -> None:
    """Raise if a ``ConstrainedParameter``'s value in ``dtype`` is NaN, inf or out of its range: one
    reduction over the constants that changed since they were last found in range (none: no work,
    no sync). ``trainable=False`` leaves the trainable ones out: they change at every optimizer step,
    and their map keeps them in range unless the raw parameter is not finite (then a check of NaN/inf,
    like the input's). Other modules (the snnTorch adapter's constants, clamped as snnTorch clamps
    them) are not checked here."""
    stale = [
        (c, v)
        for c, v in zip(constants, values, strict=True)
        if isinstance(c, ConstrainedParameter) and (trainable or not c.trainable) and not c.checked_for(dtype)
    ]
    if not stale:
        return
    with torch.no_grad():  # per constant: out of range anywhere, its largest stored value
        found = torch.stack([torch.stack([_outside(v, c.kind).any().double(), c().max().double()])
                             for c, v in stale]).tolist()  # fmt: skip
    for (constant, value), (is_bad, _) in zip(stale, found, strict=True):
        if is_bad:
            raise ValueError(_out_of_range_message(constant, value.detach(), dtype))
    for (constant, _), (_, largest) in zip(stale, found, strict=True):
        constant.mark_checked(dtype, largest)


def fixed_identity(constants: Sequence[nn.Module]) -> tuple[tuple[int, int], ...] | None:
    """``(id, version)`` of each constant's stored value where every one is a fixed
    ``ConstrainedParameter`` (its value changes only with these), else ``None``. Equal identities
    mean the same values as long as the stored tensors are held (an id is reused only after its
    tensor is freed)."""
    identity = []
    for constant in constants:
        if not isinstance(constant, ConstrainedParameter) or constant.trainable:
            return None
        value = constant._buffers["value"]  # as ``constant.value``, without nn.Module's attribute lookup
        version = _version(value)
        if version is None:
            return None
        identity.append((id(value), version))
    return tuple(identity)


def known_max(constant: nn.Module) -> float | None:
    """``constant.known_max()`` for a ``ConstrainedParameter``; ``None`` (not known) for another module."""
    return constant.known_max() if isinstance(constant, ConstrainedParameter) else None


def _out_of_range_message(constant: ConstrainedParameter, value: Tensor, dtype: torch.dtype) -> str:
    found = value[_outside(value, constant.kind)].flatten()[0].item()
    stored = constant().detach()
    if not bool(_outside(stored.to(torch.float64), constant.kind).any()):
        how = f"it rounds to {found!r} in {str(dtype).removeprefix('torch.')}: compute in a wider dtype"
    elif constant.trainable:
        how = f"its raw parameter gives {found!r} (did the training diverge?)"
    else:
        how = f"it holds {found!r} (loaded or changed after construction)"
    return f"neuron constant {constant.name} must be {RANGES[constant.kind].text} and finite, but {how}"
