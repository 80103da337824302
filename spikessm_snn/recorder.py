"""Count the spikes of every neuron layer in any model, without changing the model.

``SpikeRecorder(model)`` hooks the forward of every spiking-neuron module it recognises: ours
(``SpikingNeuron``, our SpikingJelly/snnTorch adapters, the neurons in SSM blocks), SpikingJelly's
(``BaseNode`` and ``PSN``-style nodes) and snnTorch's (``SpikingNeuron``). Use it as a context
manager; ``rates()`` gives each layer's spikes per neuron per step over everything recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import torch
from torch import Tensor, nn

from .backends.result import MultiStepResult
from .neuron_modules import BackendOfNeuron, SpikingNeuron


def _foreign_neuron_types() -> tuple[type, ...]:
    types: list[type] = []
    with suppress(ImportError):
        from spikingjelly.activation_based import neuron as sj_neuron

        types.append(sj_neuron.BaseNode)
        types.extend(
            getattr(sj_neuron, name) for name in ("PSN", "MaskedPSN", "SlidingPSN") if hasattr(sj_neuron, name)
        )
    with suppress(ImportError):
        from snntorch._neurons.neurons import SpikingNeuron as SnnTorchNeuron

        types.append(SnnTorchNeuron)
    return tuple(types)


def _spikes_of(output: Any) -> Tensor | None:
    if isinstance(output, MultiStepResult):
        return output.spikes
    if isinstance(output, tuple) and output and isinstance(output[0], Tensor):
        return output[0]  # snnTorch: (spk, mem, ...)
    return output if isinstance(output, Tensor) else None


def spiking_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(name, module)`` of every neuron layer, outermost framework module first, no doubles."""
    foreign = _foreign_neuron_types()
    taken: list[str] = []
    for name, module in model.named_modules():
        if any(name == t or name.startswith(t + ".") for t in taken):
            continue
        if isinstance(module, (SpikingNeuron, BackendOfNeuron)) or (foreign and isinstance(module, foreign)):
            taken.append(name)
            yield name or type(module).__name__, module


class SpikeRecorder:
    """Per-layer spike counts of ``model`` while the recorder is open."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.spikes: dict[str, float] = {}
        self.elements: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> SpikeRecorder:
        for name, module in spiking_layers(self.model):
            self.spikes[name], self.elements[name] = 0.0, 0
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            spikes = _spikes_of(output)
            if spikes is not None:
                self.spikes[name] += float(spikes.detach().sum())
                self.elements[name] += spikes.numel()

        return record

    def rates(self) -> dict[str, float]:
        """Layer name -> spikes per neuron per step (layers that never fired a forward are left out)."""
        return {name: self.spikes[name] / n for name, n in self.elements.items() if n}
