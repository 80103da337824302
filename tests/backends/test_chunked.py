"""Backend 'chunked' (speculation and repair over chunks of time) against the iterative reference.

The torch path runs everywhere; the CUDA kernels run on the CPU as C++ through
``fused_without_gpu.py`` (several launches a call, as on the GPU), and on a GPU in the tests
marked ``gpu``. Spikes and states equal the reference bit for bit; gradients to rounding.
"""

from __future__ import annotations

import itertools
import logging

import pytest
import torch
from fused_without_gpu import assert_compiles_for_gpu_without_spills, kernel_parameters
from test_fused import ANY_SURROGATE, NEURONS, _assert_equal_to_the_reference, _compare, _given_state, on_backend

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends import auto
from spikessm_snn.backends.auto import chosen_backend
from spikessm_snn.backends.chunked import launch as chunked_launch
from spikessm_snn.backends.chunked import speculation
from spikessm_snn.backends.chunked.launch import CHUNKED_KERNELS
from spikessm_snn.backends.chunked.source import chunked_source
from spikessm_snn.backends.chunked.speculation import speculate_and_repair
from spikessm_snn.backends.fused import autograd, run_fused
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.backends.reference import run_reference
from spikessm_snn.neurons.dynamics import NeuronParameters, NeuronState, reset_potential, zero_state
from spikessm_snn.neurons.surrogate import SURROGATE_NAMES, surrogate

_on_chunked = on_backend("chunked")
CHUNK = speculation.CHUNK_STEPS


def _parameters(n: int, tau: float, threshold: float, tau_r: float, refractory: float, hard: bool,
                dtype: torch.dtype) -> NeuronParameters:  # fmt: skip
    """Per-neuron constants ``[n]``, spread a little around the given values (inside the valid range)."""
    spread = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    tau_n = (tau * (1 - 0.01 * spread)).clamp(1e-6, 1.0)
    return NeuronParameters(tau_n.to(dtype), (threshold * (1 + 0.2 * spread)).to(dtype),
                            torch.full((n,), tau_r, dtype=dtype), (refractory * (1 + spread)).to(dtype), hard,
                            -0.2 if hard else 0.0)  # fmt: skip


def _assert_same_run(x: torch.Tensor, p: NeuronParameters, state: NeuronState, chunk: int, passes: int) -> dict:
    ref = run_reference(x, state, p, surrogate("triangle"), record=True)
    ours = speculate_and_repair(x, p, state.v, state.r, chunk=chunk, passes=passes)
    v_seq = reset_potential(ours.h, ours.spikes, p)
    assert torch.equal(ours.spikes, ref.spikes)
    assert torch.equal(v_seq, ref.v_seq) and torch.equal(ours.r, ref.r_seq)
    assert torch.equal(ours.v_last, ref.state.v) and torch.equal(ours.r_last, ref.state.r)
    return ours.stats


CONSTANTS = [  # (tau, threshold, tau_r, refractory): decays near 0 and near 1, small and large thresholds
    (0.01, 1.0, 0.5, 0.0), (0.5, 0.05, 0.8, 0.5), (0.9, 1.0, 0.0, 0.0), (0.99, 1.0, 0.9, 0.3),
    (0.9999, 2.0, 0.99, 1.0), (1.0, 1.0, 0.5, 0.0), (0.6, 20.0, 0.3, 5.0),
]  # fmt: skip


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("constants", CONSTANTS)
@pytest.mark.parametrize(("steps", "chunk"), [(1, 8), (5, 8), (8, 8), (203, 16), (1000, 64)])
def test_the_torch_chunked_algorithm_equals_the_loop_bit_for_bit(steps, chunk, constants, hard, randn) -> None:
    n = 12
    scale = constants[1]
    x = randn(steps, n, dtype=torch.float32, scale=1.2 * scale, mean=0.3 * scale)
    state = NeuronState(randn(n, dtype=torch.float32, scale=scale), torch.rand(n) * constants[3])
    p = _parameters(n, *constants, hard, torch.float32)
    for passes in (0, 2):
        _assert_same_run(x, p, state, chunk, passes)


def test_one_neuron_and_float64(randn) -> None:
    x = randn(777, 1)
    for hard in (False, True):
        p = _parameters(1, 0.8, 0.9, 0.7, 0.4, hard, torch.float64)
        _assert_same_run(x, p, zero_state(x[0]), 32, 3)


def test_chunks_that_never_meet_fall_back_to_the_walk_and_stay_exact(randn) -> None:
    """Soft reset without decay: two starts keep their difference (it never rounds away), so the
    repairs never meet; the finish reruns the chunks in order, sequentially."""
    x = randn(2048, 16, dtype=torch.float32, scale=1.5, mean=0.2)
    p = _parameters(16, 1.0, 1.0, 0.5, 0.0, False, torch.float32)
    stats = _assert_same_run(x, p, zero_state(x[0]), 64, 2)
    assert stats["passes"] == 2 and stats["finish_chunks"] >= 20
    assert stats["finish_steps_worst"] == (32 - 3) * 64  # tau = 1: every chunk after the 3 exact ones, whole


def test_hard_reset_meets_at_the_first_common_spike(randn) -> None:
    x = randn(4096, 16, dtype=torch.float32, scale=1.5, mean=0.3)
    p = _parameters(16, 0.9, 1.0, 0.5, 0.0, True, torch.float32)
    stats = _assert_same_run(x, p, zero_state(x[0]), 64, 3)
    assert stats["passes"] == 1 and stats["finish_chunks"] == stats["finish_steps"] == 0


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEURONS)
def test_the_torch_path_with_gradients(name, dtype, record) -> None:
    """Through the neuron: spikes bit for bit, states equal, gradients (reverse scan) to rounding."""
    x = (1.2 * torch.randn(300, 2, 17, generator=torch.Generator().manual_seed(11)) + 0.3).to(dtype)
    outs = _compare(name, x, _on_chunked, record=record)
    assert 0 < outs[0][0].spikes.mean() < 1
    single = dtype == torch.float32
    _assert_equal_to_the_reference(outs, 0.0, 1e-5 if single else 1e-12)


@pytest.mark.parametrize(("surrogate_name", "detach_reset"), list(itertools.product(SURROGATE_NAMES, [False, True])))
@pytest.mark.parametrize("name", ANY_SURROGATE)
def test_the_torch_path_with_each_surrogate_and_a_given_state(name, surrogate_name, detach_reset) -> None:
    x, state = _given_state(300)
    outs = _compare(name, x, _on_chunked, state=state, surrogate=surrogate_name, detach_reset=detach_reset)
    _assert_equal_to_the_reference(outs, 0.0, 1e-12, nonzero=True)


@pytest.fixture
def kernels_on_the_cpu(kernels_on_cpu, monkeypatch):
    """Backend 'chunked' with its CUDA kernels (and the fused backward kernel) run on the CPU."""
    monkeypatch.setattr(chunked_launch, "launch", kernels_on_cpu.launch)
    monkeypatch.setattr(autograd, "launch", kernels_on_cpu.launch)
    kernels_on_cpu.calls.clear()

    def run(neuron, x, state, record):  # state None: the zero state, read from null pointers
        p = neuron.parameters_for(x[0], x.dtype)
        return run_fused(x, state, p, neuron.spike_fn, neuron.detach_reset, record, neuron.check_finite,
                         CHUNKED_KERNELS)  # fmt: skip

    return run


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEURONS)
def test_the_kernels_on_the_cpu_equal_the_reference(name, dtype, record, kernels_on_the_cpu, kernels_on_cpu) -> None:
    """T = 150 in chunks of 128 (the last one short): every phase launched, as on the GPU."""
    x = (1.2 * torch.randn(150, 2, 13, generator=torch.Generator().manual_seed(3)) + 0.3).to(dtype)
    outs = _compare(name, x, kernels_on_the_cpu, record=record)
    assert 0 < outs[0][0].spikes.mean() < 1
    launched = [call[1] for call in kernels_on_cpu.calls]
    assert launched[0] == "chunk_speculate" and "chunk_repair" in launched and "chunk_finish" in launched
    single = dtype == torch.float32
    _assert_equal_to_the_reference(outs, 0.0, 1e-5 if single else 1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 1, 3), (CHUNK, 2, 3), (2 * CHUNK + 1, 1, 2)])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset"])
def test_the_kernels_on_the_cpu_at_short_and_odd_lengths(name, shape, kernels_on_the_cpu) -> None:
    """T = 1, T < C, T = C, T = 2C + 1; one neuron."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64) + 0.5
    _assert_equal_to_the_reference(_compare(name, x, kernels_on_the_cpu), 0.0, 1e-12)


@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset", "lif_soft"])
def test_the_kernels_on_the_cpu_carry_a_given_state(name, kernels_on_the_cpu) -> None:
    x, state = _given_state(200)
    _assert_equal_to_the_reference(_compare(name, x, kernels_on_the_cpu, state=state), 0.0, 1e-12)


@pytest.mark.parametrize("passes", [0, 1])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset", "lif_soft"])
def test_the_kernels_on_the_cpu_with_short_chunks_and_few_repairs(name, passes, kernels_on_the_cpu,
                                                                  monkeypatch) -> None:  # fmt: skip
    """Chunks of 8 steps, 0 or 1 repair: the finish kernel reruns many chunks from their true start."""
    monkeypatch.setattr(speculation, "CHUNK_STEPS", 8)
    monkeypatch.setattr(speculation, "REPAIR_PASSES", passes)
    x, state = _given_state(203)
    _assert_equal_to_the_reference(_compare(name, x, kernels_on_the_cpu, state=state), 0.0, 1e-12)


@pytest.mark.parametrize("name", ["srr", "lif_hard", "lif_soft"])
def test_a_plain_forward_on_the_cpu_kernels_writes_no_h_or_r(name, kernels_on_the_cpu, kernels_on_cpu) -> None:
    """Without gradients, record or finite check nothing reads ``h`` and ``r``: the kernels get null
    pointers for them, and the spikes and final state still equal the loop's bit for bit."""
    x = 1.2 * torch.randn(300, 2, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 0.3
    neuron = NEURONS[name](check_finite=False).double()
    with torch.no_grad():
        ours = kernels_on_the_cpu(neuron, x, None, False)
    ref = run_reference(x, zero_state(x[0]), neuron.parameters_for(x[0]), neuron.spike_fn)
    for spec, kernel, args in kernels_on_cpu.calls:
        labels = [label for _, label in kernel_parameters(chunked_source(spec), kernel)]
        passed = dict(zip(labels, args, strict=True))
        assert passed.get("h_seq") is None and passed.get("stored_h") is None, kernel
    assert 0 < ours.spikes.mean() < 1 and torch.equal(ours.spikes, ref.spikes)
    assert torch.equal(ours.state.v, ref.state.v) and torch.equal(ours.state.r, ref.state.r)


@pytest.mark.parametrize("passes", [0, 1, 3])
def test_the_first_wrong_chunk_is_found_with_or_without_its_kernel(passes, kernels_on_the_cpu, kernels_on_cpu,
                                                                   monkeypatch) -> None:  # fmt: skip
    """The last repair pass records each neuron's first chunk whose start differs from the previous
    chunk's end (``chunk_first_wrong`` runs only without repairs): the finish gets exactly that chunk."""
    monkeypatch.setattr(speculation, "CHUNK_STEPS", 8)
    monkeypatch.setattr(speculation, "REPAIR_PASSES", passes)
    x, state = _given_state(203)
    _assert_equal_to_the_reference(_compare("srr_trainable", x, kernels_on_the_cpu, state=state), 0.0, 1e-12)
    names = [name for _, name, _ in kernels_on_cpu.calls]
    assert names.count("chunk_repair") == passes and ("chunk_first_wrong" in names) == (passes == 0)
    spec, _, args = next(call for call in kernels_on_cpu.calls if call[1] == "chunk_finish")
    labels = [label for _, label in kernel_parameters(chunked_source(spec), "chunk_finish")]
    found = dict(zip(labels, args, strict=True))
    wrong = (found["end_v"][:-1] != found["start_v"][1:]) | (found["end_r"][:-1] != found["start_r"][1:])
    chunks = wrong.shape[0] + 1
    expected = torch.where(wrong.any(0), wrong.int().argmax(0) + 1, chunks)
    assert int((expected < chunks).sum()) > 0 and torch.equal(found["first_wrong"].long(), expected.long())


def test_the_kernels_on_the_cpu_fall_back_where_chunks_never_meet(kernels_on_the_cpu, monkeypatch) -> None:
    """Soft reset without decay: the repairs never meet, the finish reruns chunk after chunk."""
    monkeypatch.setitem(
        NEURONS, "no_decay", lambda **kw: SRRNeuron(tau=1.0, tau_r=0.5, v_th=0.0, learn_u_th=True, **kw)
    )
    x = torch.randn(700, 1, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64) + 0.2
    outs = _compare("no_decay", x, kernels_on_the_cpu)
    assert 0 < outs[0][0].spikes.mean() < 1
    _assert_equal_to_the_reference(outs, 0.0, 1e-12)


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("on_kernels", [False, True])
def test_nan_or_inf_in_the_input_raises(requires_grad, on_kernels, kernels_on_the_cpu) -> None:
    x = torch.randn(100, 2, 8, generator=torch.Generator().manual_seed(1))
    x[73, 1, 5] = float("inf")
    neuron = NEURONS["srr"]()
    run = kernels_on_the_cpu if on_kernels else _on_chunked
    with pytest.raises(ValueError, match="NaN or inf"):
        run(neuron, x.clone().requires_grad_(requires_grad), None, False)


def test_bad_input_gets_the_shared_errors(randn) -> None:
    neuron = SRRNeuron(backend="chunked")
    with pytest.raises(BackendUnavailableError, match="'chunked' cannot run this call: it computes in float32"):
        neuron(randn(10, 2, dtype=torch.float16))
    with pytest.raises(ValueError, match=r"x_seq must be \[T, B, ...\]"):
        neuron(randn(10))
    with pytest.raises(TypeError, match="floating"):
        neuron(torch.ones(10, 2, dtype=torch.int64))
    custom = ResetLIFNeuron(backend="chunked")
    custom.spike_fn = lambda z: (z >= 0).to(z.dtype)
    with pytest.raises(BackendUnavailableError, match="surrogate's derivative"):
        custom(randn(10, 2, dtype=torch.float32))


def test_no_second_derivative(randn) -> None:
    x = randn(50, 3, dtype=torch.float32).requires_grad_()
    out = SRRNeuron(backend="chunked")(x).spikes
    with pytest.raises(RuntimeError, match="'chunked' computes its gradient without a graph"):
        torch.autograd.grad((out * randn(50, 3, dtype=torch.float32)).sum(), x, create_graph=True)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard"])
def test_gpu_long_sequences_forward_and_backward(name) -> None:
    """T = 65536, N = 256: the shape the backend is for (the reference loop takes a minute or so)."""
    x = 1.2 * torch.randn(65536, 1, 256, device="cuda") + 0.3
    _assert_equal_to_the_reference(_compare(name, x, _on_chunked, record=False), 0.0, 1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("tau", [0.5, 0.99, 1.0])
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_gpu_without_gradients_at_any_decay(reset, tau) -> None:
    """T = 65536, N = 256 under no_grad, the check on: tau = 1 with soft reset never meets (the
    finish walks the chunks sequentially), and stays exact."""
    x = 1.2 * torch.randn(65536, 2, 128, device="cuda") + 0.3
    with torch.no_grad():
        ref = ResetLIFNeuron(tau=tau, reset=reset).cuda()(x)
        ours = ResetLIFNeuron(tau=tau, reset=reset, backend="chunked").cuda()(x)
    assert 0 < ref.spikes.mean() < 1
    assert torch.equal(ours.spikes, ref.spikes)
    assert torch.equal(ours.state.v, ref.state.v) and torch.equal(ours.state.r, ref.state.r)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset"])
def test_gpu_given_state_and_float64(name) -> None:
    x, state = _given_state(3000, "cuda")
    _assert_equal_to_the_reference(_compare(name, x, _on_chunked, state=state), 0.0, 1e-10)


@pytest.mark.parametrize(
    ("steps", "width", "expected"), [(4096, 8, "chunked"), (4095, 8, "torch"), (4096, 257, "torch")]
)
def test_auto_on_the_cpu_picks_by_shape_and_says_so(steps, width, expected, randn, caplog) -> None:
    neuron = SRRNeuron(backend="auto")
    assert neuron.last_backend is None and "backend='auto', " in repr(neuron)
    x = randn(steps, 1, width, dtype=torch.float32, mean=0.3)
    with caplog.at_level(logging.DEBUG, logger="spikessm_snn.backends.auto"):
        result = neuron(x)
    assert chosen_backend(x, neuron.spike_fn) == expected and neuron.last_backend == expected
    assert f"backend='auto' (last picked '{expected}')" in repr(neuron)
    assert f"backend 'auto' picked '{expected}'" in caplog.text
    assert torch.equal(result.spikes, SRRNeuron()(x).spikes)


def test_auto_takes_the_loop_for_half_precision_or_a_plain_spike_function_on_the_cpu(randn) -> None:
    x = randn(4096, 1, 8, dtype=torch.float32, mean=0.3)
    assert chosen_backend(x.to(torch.bfloat16), surrogate("triangle")) == "torch"
    assert chosen_backend(x, lambda z: (z >= 0).to(z.dtype)) == "torch"


F32, F64, F16 = torch.float32, torch.float64, torch.float16
HARD, BACKWARD, BOTH = {"hard_reset": True}, {"backward": True}, {"hard_reset": True, "backward": True}


@pytest.mark.parametrize(("steps", "neurons", "dtype", "call", "with_cupy", "without_cupy"), [
    (16384, 1024, F32, {}, "chunked", "torch"), (16383, 1024, F32, {}, "cupy", "torch"),  # every call from T = 16384
    (16384, 1025, F32, {}, "cupy", "torch"), (16384, 1025, F32, BOTH, "cupy", "torch"),
    (16383, 1024, F32, BACKWARD, "cupy", "torch"), (65536, 1024, F32, BACKWARD, "chunked", "torch"),
    (4096, 1024, F32, HARD, "cupy", "torch"), (65536, 4096, F32, BOTH, "cupy", "torch"),  # no row for a hard reset
    (4096, 256, F32, BOTH, "cupy", "chunked"), (65536, 16384, F32, BOTH, "cupy", "torch"),
    (65536, 256, F64, {}, "chunked", "chunked"), (65536, 256, F16, BOTH, "cupy", "torch"),
    (1000, 64, F32, {}, "cupy", "torch"),
])  # fmt: skip
def test_auto_on_a_gpu_follows_the_table(steps, neurons, dtype, call, with_cupy, without_cupy, monkeypatch) -> None:
    """The rule itself, on a stand-in for a CUDA tensor (no GPU needed): by shape, reset and
    whether a backward follows; without CuPy, the CPU's rows."""

    class OnCuda:
        is_cuda, shape = True, (steps, neurons)

        def __init__(self) -> None:
            self.dtype = dtype

        def __getitem__(self, index: int) -> torch.Tensor:
            return torch.empty(neurons)

    monkeypatch.setattr(auto, "cupy_missing", lambda: None)
    assert chosen_backend(OnCuda(), surrogate("atan"), **call) == with_cupy
    monkeypatch.setattr(auto, "cupy_missing", lambda: "no CuPy")
    assert chosen_backend(OnCuda(), surrogate("atan"), **call) == without_cupy


@pytest.mark.gpu
def test_gpu_auto_runs_what_it_picked() -> None:
    x = torch.randn(16384, 1, 256, device="cuda") + 0.3
    neuron = SRRNeuron(backend="auto").cuda()
    result = neuron(x)
    assert neuron.last_backend == chosen_backend(x, neuron.spike_fn) == "chunked"
    assert torch.equal(result.spikes, SRRNeuron().cuda()(x).spikes)


@pytest.mark.parametrize(("dtype", "name", "hard"), [("float32", "triangle", False), ("float32", "sigmoid", True),
                                                     ("float64", "atan", False)])  # fmt: skip
def test_the_kernels_compile_for_hopper_without_register_spills(dtype, name, hard) -> None:
    assert_compiles_for_gpu_without_spills(chunked_source(KernelSpec(dtype, surrogate(name), hard, False)), 7)
