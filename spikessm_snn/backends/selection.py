"""``set_backend(net, name)``: choose the multi-step backend of every neuron in a network.

Works with spikingjelly 2.0.0 (which dropped ``functional.set_backend``) and 0.0.0.0.14
alike: it duck-types on ``backend`` / ``supported_backends``, as 0.0.0.0.14's function does.
"""

from __future__ import annotations

import warnings

from torch import nn

from .registry import get_backend


def set_backend(net: nn.Module, name: str, instance: type | tuple[type, ...] = nn.Module) -> None:
    """Set ``backend = name`` on every module of type ``instance`` that has a backend.

    Our neurons raise if ``name`` is unknown or not available here (the message says what is
    missing); other modules that do not support ``name`` keep theirs, with a warning.
    """
    get_backend(name)  # unknown or not installed here: raise before touching the network
    for module in net.modules():
        if not isinstance(module, instance) or not hasattr(module, "supported_backends"):
            continue
        if name in module.supported_backends:
            module.backend = name
        else:
            warnings.warn(
                f"{type(module).__name__} does not support backend {name!r}; keeps {module.backend!r}", stacklevel=2
            )
