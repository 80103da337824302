"""Backend 'auto' and the neuron: no 'chunked' where a soft reset's chunks never meet; the table
told the reset and whether a backward follows.

The bound comes from ``analysis/chunked_meeting.py`` (``finish_walk``, tested here on small
cases); the rule reads the constants from the host only (no device read).
"""

from __future__ import annotations

import logging

import pytest
import torch

from analysis.chunked_meeting import finish_walk, largest_meeting_decay
from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends import auto
from spikessm_snn.backends.auto import MEETING_DECAY, chosen_backend, chunks_meet, resolved_backend
from spikessm_snn.backends.chunked import speculation
from spikessm_snn.backends.fused.autograd import backward_follows
from spikessm_snn.backends.registry import run_backend
from spikessm_snn.neurons.dynamics import zero_state

CPU_SHAPE = (4096, 1, 8)  # inside CHUNKED_WINS["cpu"]: 'chunked' by shape
GPU_SHAPE = (16384, 1, 256)  # inside CHUNKED_WINS["cuda"]

CASES = {  # name: (neuron, whether its chunks meet)
    "lif_soft_tau1": (lambda: ResetLIFNeuron(tau=1.0, reset="soft", backend="auto"), False),
    "lif_hard_tau1": (lambda: ResetLIFNeuron(tau=1.0, reset="hard", backend="auto"), True),
    "lif_soft_at_the_bound": (lambda: ResetLIFNeuron(tau=0.9, reset="soft", backend="auto"), True),
    "lif_soft_above_the_bound": (lambda: ResetLIFNeuron(tau=0.93, reset="soft", backend="auto"), False),
    "srr": (lambda: SRRNeuron(tau=0.5, tau_r=0.5, backend="auto"), True),
    "srr_slow_trace": (lambda: SRRNeuron(tau=0.5, tau_r=0.95, backend="auto"), False),
    "srr_slow_trace_that_never_moves": (lambda: SRRNeuron(tau=0.5, tau_r=0.95, v_th=0.0, backend="auto"), True),
}


class _OnCuda(torch.Tensor):
    """A CPU tensor that says it is on a GPU: the rule for a GPU, without one."""

    is_cuda = True


@pytest.mark.parametrize("name", list(CASES))
def test_auto_on_the_cpu_runs_chunked_only_where_chunks_meet(name, randn) -> None:
    make, meets = CASES[name]
    neuron = make()
    x = randn(*CPU_SHAPE, dtype=torch.float32, scale=1.2, mean=0.3)
    assert chosen_backend(x, neuron.spike_fn) == "chunked"  # by shape alone, as before
    result = neuron(x)
    expected = "chunked" if meets else "torch"
    assert neuron.last_backend == expected
    reference = make()
    reference.backend = "torch"
    assert 0 < result.spikes.mean() < 1
    assert torch.equal(result.spikes, reference(x).spikes)


@pytest.mark.parametrize("name", list(CASES))
def test_auto_on_a_gpu_with_cupy_runs_the_sequential_kernel_where_chunks_never_meet(name, randn,
                                                                                    monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr(auto, "cupy_missing", lambda: None)
    make, meets = CASES[name]
    neuron = make()
    x = randn(*GPU_SHAPE, dtype=torch.float32).as_subclass(_OnCuda)
    assert chosen_backend(x, neuron.spike_fn) == "chunked"
    assert resolved_backend("auto", x, neuron.spike_fn, neuron.soft_reset_decay()) == ("chunked" if meets else "cupy")
    short = randn(1024, 1, 256, dtype=torch.float32).as_subclass(_OnCuda)  # outside the table: 'cupy' whatever
    assert chosen_backend(short, neuron.spike_fn, neuron.soft_reset_decay()) == "cupy"


def test_the_bound_is_per_dtype_and_in_the_input_dtype(randn) -> None:
    neuron = ResetLIFNeuron(tau=0.89, reset="soft", backend="auto")
    x = randn(*CPU_SHAPE, scale=1.2, mean=0.3)
    assert chosen_backend(x.float(), neuron.spike_fn, neuron.soft_reset_decay()) == "chunked"
    assert chosen_backend(x, neuron.spike_fn, neuron.soft_reset_decay()) == "torch"  # float64 meets later
    assert MEETING_DECAY[torch.float64] < 0.89 <= MEETING_DECAY[torch.float32]
    bound = MEETING_DECAY[torch.float32]
    assert chunks_meet(bound + 1e-9, torch.float32)  # rounds to the bound in float32
    assert not chunks_meet(bound + 1e-6, torch.float32) and not chunks_meet(bound + 1e-9, torch.float64)
    assert chunks_meet(None, torch.float32)


def test_auto_reads_no_value_from_the_device(randn, monkeypatch) -> None:
    """The decay comes from values the modules hold on the host: nothing converts a tensor to a
    Python value (on a GPU that would wait for it), whatever the constants' history."""
    loaded = SRRNeuron(tau=0.5, backend="auto", check_finite=False)
    loaded.load_state_dict({**loaded.state_dict(), "tau_r.value": torch.tensor(0.97, dtype=torch.float64)})
    loaded(randn(20, 1, 8, dtype=torch.float32))  # the range check (one reduction) finds the loaded value
    trained = SRRNeuron(tau=0.99, learn_tau=True, backend="auto", check_finite=False)
    neurons = [CASES["lif_soft_tau1"][0](), CASES["lif_hard_tau1"][0](), loaded, trained]
    x = randn(*GPU_SHAPE, dtype=torch.float32).as_subclass(_OnCuda)
    monkeypatch.setattr(auto, "cupy_missing", lambda: None)

    def device_read(*_: object) -> None:
        raise AssertionError("a tensor was read on the host")

    with monkeypatch.context() as patched:
        for method in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__"):
            patched.setattr(torch.Tensor, method, device_read)
        decays = [n.soft_reset_decay() for n in neurons]
        picked = [resolved_backend("auto", x, n.spike_fn, decay) for n, decay in zip(neurons, decays, strict=True)]
    assert decays == [1.0, None, 0.97, None]  # the trainable one is not known: the shape table decides
    assert picked == ["cupy", "chunked", "cupy", "chunked"]


def test_a_backward_follows_where_gradients_are_on_and_a_tensor_requires_them(randn) -> None:
    x, constant = randn(5, 2), torch.tensor(0.5)
    assert not backward_follows(x, constant)
    assert backward_follows(x, constant.requires_grad_())
    assert backward_follows(x.requires_grad_()) and not backward_follows(randn(3))
    with torch.no_grad():
        assert not backward_follows(x, constant)
    with torch.inference_mode():
        assert not backward_follows(x)


# On the CPU rows meant only for a hard reset or a backward (the GPU's kinds of row): the neuron
# and run_backend tell the table both, seen in what ran
CALL_ROWS = [(256, 4096, "hard reset"), (256, 4096, "backward")]
CALLS = {  # name: (neuron, whether x requires grad, gradients enabled, 'chunked' expected)
    "soft_forward": (lambda: SRRNeuron(tau=0.5, tau_r=0.5, backend="auto"), False, True, False),
    "soft_input_requires_grad": (lambda: SRRNeuron(tau=0.5, tau_r=0.5, backend="auto"), True, True, True),
    "soft_under_no_grad": (lambda: SRRNeuron(tau=0.5, tau_r=0.5, backend="auto"), True, False, False),
    "soft_trainable_constant": (lambda: SRRNeuron(tau=0.5, learn_tau=True, backend="auto"), False, True, True),
    "soft_lif_forward": (lambda: ResetLIFNeuron(tau=0.5, reset="soft", backend="auto"), False, True, False),
    "hard_forward": (lambda: ResetLIFNeuron(tau=0.5, reset="hard", backend="auto"), False, True, True),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_the_neuron_tells_auto_its_reset_and_whether_a_backward_follows(name, randn, monkeypatch) -> None:
    monkeypatch.setitem(auto.CHUNKED_WINS, "cpu", CALL_ROWS)
    make, requires_grad, grad_enabled, chunked = CALLS[name]
    neuron, reference = make(), make()
    reference.backend = "torch"
    x = randn(*CPU_SHAPE, dtype=torch.float32, scale=1.2, mean=0.3).requires_grad_(requires_grad)
    with torch.set_grad_enabled(grad_enabled):
        result = neuron(x)
    assert neuron.last_backend == ("chunked" if chunked else "torch")
    assert 0 < result.spikes.mean() < 1
    assert torch.equal(result.spikes, reference(x).spikes)


def test_a_given_state_that_requires_grad_means_a_backward(randn, monkeypatch) -> None:
    monkeypatch.setitem(auto.CHUNKED_WINS, "cpu", CALL_ROWS)
    neuron = SRRNeuron(tau=0.5, tau_r=0.5, backend="auto")
    x = randn(*CPU_SHAPE, dtype=torch.float32, scale=1.2, mean=0.3)
    v, r = randn(*CPU_SHAPE[1:], dtype=torch.float32), torch.zeros(CPU_SHAPE[1:])
    neuron(x, (v, r))
    assert neuron.last_backend == "torch"
    neuron(x, (v.requires_grad_(), r))
    assert neuron.last_backend == "chunked"


@pytest.mark.parametrize(("name", "expected"), [("soft_forward", "torch"), ("soft_input_requires_grad", "chunked"),
                                                ("hard_forward", "chunked")])  # fmt: skip
def test_run_backend_auto_without_a_neuron_tells_the_table_the_same(name, expected, randn, monkeypatch,
                                                                    caplog) -> None:  # fmt: skip
    monkeypatch.setitem(auto.CHUNKED_WINS, "cpu", CALL_ROWS)
    make, requires_grad, _, _ = CALLS[name]
    neuron = make()
    x = randn(*CPU_SHAPE, dtype=torch.float32, scale=1.2, mean=0.3).requires_grad_(requires_grad)
    with caplog.at_level(logging.DEBUG, logger="spikessm_snn.backends.auto"):
        result = run_backend("auto", x, zero_state(x[0]), neuron.parameters_for(x[0]), neuron.spike_fn)
    assert f"backend 'auto' picked '{expected}'" in caplog.text
    reference = make()
    reference.backend = "torch"
    assert torch.equal(result.spikes, reference(x).spikes)


def test_finish_walk_measures_what_the_finish_reruns() -> None:
    """Soft reset without decay never meets: after 3 repairs the first 4 of 16 chunks are exact and
    the finish reruns the other 12 whole, for every neuron; the hard reset meets at a shared spike."""
    assert speculation.REPAIR_PASSES == 3
    never = finish_walk(ResetLIFNeuron(tau=1.0, reset="soft"), 16 * speculation.CHUNK_STEPS, 8, torch.float32, 0)
    assert never["walked"] == never["worst"] == never["finish_chunks"] == 12 / 16 and never["passes"] == 3
    assert 0 < never["rate"] < 1
    for neuron in (ResetLIFNeuron(tau=1.0, reset="hard"), SRRNeuron(tau=0.5, tau_r=0.5)):
        meets = finish_walk(neuron, 1024, 8, torch.float64, 1)
        assert meets["walked"] <= meets["worst"] < 0.05 and 0 < meets["rate"] < 1


def test_the_bound_is_below_the_smallest_decay_that_walks_too_far() -> None:
    runs = [("soft", 0.5, 0.0), ("soft", 0.8, 0.04), ("soft", 0.85, 0.5), ("soft", 0.9, 0.0), ("hard", 0.95, 0.9)]
    rows = [{"dtype": "float32", "reset": reset, "decay": decay, "worst": worst} for reset, decay, worst in runs]
    assert largest_meeting_decay(rows, "float32", 0.05) == 0.8  # 0.9 lies above a decay that failed
    assert largest_meeting_decay(rows, "float32", 0.01) == 0.5
    assert largest_meeting_decay(rows, "float64", 0.05) == 0.0


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["lif_soft_tau1", "lif_hard_tau1", "srr_slow_trace"])
def test_gpu_auto_runs_what_the_constants_allow(name) -> None:
    """On the GPU, moved there after construction, without the check: what ran and that it is exact."""
    make, meets = CASES[name]
    neuron = make().cuda()
    neuron.check_finite = False
    x = 1.2 * torch.randn(*GPU_SHAPE, device="cuda") + 0.3
    result = neuron(x)
    assert neuron.last_backend == ("chunked" if meets else "cupy")
    reference = make().cuda()
    reference.backend = "torch"
    assert torch.equal(result.spikes, reference(x).spikes)


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "neurons", "steps", "expected"), [
    ("soft_forward", 4 * 256, 16384, "chunked"), ("soft_input_requires_grad", 4 * 256, 16384, "chunked"),
    ("hard_forward", 4 * 256, 4096, "cupy"), ("hard_forward", 16 * 256, 16384, "cupy"),
])  # fmt: skip
def test_gpu_auto_runs_chunked_up_to_1024_neurons_from_16384_steps(name, neurons, steps, expected) -> None:
    """Inside the GPU row (B*D <= 4 * 256, T >= 16384) for every call; outside it a hard reset too."""
    make, requires_grad, _, _ = CALLS[name]
    neuron = make().cuda()
    x = (1.2 * torch.randn(steps, 1, neurons, device="cuda") + 0.3).requires_grad_(requires_grad)
    result = neuron(x)
    assert neuron.last_backend == expected
    reference = make().cuda()
    reference.backend = "torch"
    with torch.no_grad():
        assert torch.equal(result.spikes, reference(x).spikes)
