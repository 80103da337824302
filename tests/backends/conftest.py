"""The fused backend's kernels on the CPU (``fused_without_gpu.py``), for the tests of every backend."""

from __future__ import annotations

import pytest
from fused_without_gpu import KernelsOnCpu, host_compiler_missing

from spikessm_snn.backends.fused import autograd, run_fused
from spikessm_snn.backends.registry import constants_dtype


@pytest.fixture(scope="session")
def kernels_on_cpu(tmp_path_factory) -> KernelsOnCpu:
    reason = host_compiler_missing()
    if reason is not None:
        pytest.skip(reason)
    return KernelsOnCpu(tmp_path_factory.mktemp("kernels"))


@pytest.fixture
def on_the_cpu(kernels_on_cpu, monkeypatch):
    """The fused backend with its kernels on the CPU: ``(neuron, x, state, record) -> result``
    (``state=None``: the zero state, which the kernels read as null pointers)."""
    monkeypatch.setattr(autograd, "launch", kernels_on_cpu.launch)
    kernels_on_cpu.calls.clear()

    def run(neuron, x, state, record):
        p = neuron.parameters_for(x[0], constants_dtype("cupy", x.dtype))
        return run_fused(x, state, p, neuron.spike_fn, neuron.detach_reset, record, neuron.check_finite)

    return run
