"""The fused CUDA kernels (backend 'cupy') against the iterative reference.

GPU tests are marked ``gpu`` and skipped where torch sees no CUDA device; the source and the
availability errors are checked everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import torch

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.fused import cupy_missing
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source
from spikessm_snn.backends.reference import run_reference
from spikessm_snn.neurons.dynamics import NeuronState, zero_state
from spikessm_snn.neurons.surrogate import SURROGATE_NAMES, surrogate

NEURONS = {
    "srr": lambda **kw: SRRNeuron(tau=0.6, tau_r=0.8, u_th=1.0, v_th=0.5, **kw),
    "srr_trainable": lambda **kw: SRRNeuron(
        tau=0.7, tau_r=0.9, u_th=0.8, v_th=0.3, learn_tau=True, learn_tau_r=True, learn_u_th=True, learn_v_th=True, **kw
    ),
    "lif_hard": lambda **kw: ResetLIFNeuron(tau=0.125, v_threshold=1.0, reset="hard", **kw),
    "lif_hard_offset": lambda **kw: ResetLIFNeuron(
        tau=0.5, v_threshold=0.7, reset="hard", v_reset=-0.2, learn_threshold=True, **kw
    ),
    "lif_soft": lambda **kw: ResetLIFNeuron(tau=0.9, v_threshold=1.0, reset="soft", learn_tau=True, **kw),
}


@pytest.mark.parametrize("name", SURROGATE_NAMES)
def test_kernel_source_renders_each_surrogate(name) -> None:
    source = kernel_source(KernelSpec("float32", surrogate(name), False, True, False))
    assert "surrogate_derivative(acc_t z) { return" in source and "neuron_backward" in source


def test_without_cupy_or_a_gpu_the_error_says_what_is_missing(randn) -> None:
    reason = cupy_missing()
    if reason is None:
        with pytest.raises(BackendUnavailableError, match="need a CUDA tensor"):
            SRRNeuron(backend="cupy")(randn(4, 2, dtype=torch.float32))
    else:
        with pytest.raises(BackendUnavailableError, match=r"'cupy' is not available here: (CuPy|torch sees no)"):
            SRRNeuron(backend="cupy")


def _compare(name: str, x: torch.Tensor, record: bool = True, initial: NeuronState | None = None, **options):
    """Reference and fused results with the gradients of one loss. The reference is the loop
    in the accumulator type (float32; float64 for float64 input) on the upcast input, with
    exactly the constants the kernel sees (the neuron's, in the input dtype). ``options`` go to
    the neuron (surrogate, detach_reset); ``initial`` is a carried state (gradients reach it)."""
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    g = torch.randn(x.shape, device=x.device, dtype=acc, generator=torch.Generator(x.device).manual_seed(7))
    outs = []
    for backend in ("torch", "cupy"):
        neuron = NEURONS[name](shape=(x.shape[-1],), backend=backend, **options).to(x.device, acc)
        xi = x.detach().clone().requires_grad_()
        state = zero_state(xi[0]) if initial is None else NeuronState(*(s.clone().requires_grad_() for s in initial))
        if backend == "torch":
            p = neuron.parameters_for(x)
            p = p._replace(**{k: getattr(p, k).to(acc) for k in ("tau", "threshold", "tau_r", "refractory")})
            x_acc = xi.to(acc)
            state_acc = NeuronState(*(s.to(acc) for s in state))
            result = run_reference(x_acc, state_acc, p, neuron.spike_fn, neuron.detach_reset, record)
        else:
            result = neuron(xi, state, record=record)
        loss = (result.spikes.to(acc) * g).sum() + result.state.v.to(acc).sum() + 0.5 * result.state.r.to(acc).sum()
        if record:
            loss = loss + 0.3 * (result.v_seq.to(acc) * g.flip(0)).sum() + 0.2 * (result.r_seq.to(acc) * g).sum()
        loss.backward()
        grads = {"x": xi.grad, **{k: p.grad for k, p in neuron.named_parameters()}}
        if initial is not None:
            grads.update(v0=state.v.grad, r0=state.r.grad)
        outs.append((result, grads))
    return outs


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm().clamp(min=1e-30)).item()


@pytest.mark.gpu
@pytest.mark.parametrize("name", NEURONS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 33), (1000, 4, 64), (4096, 2, 127)])
def test_float32_equals_the_reference(name, shape) -> None:
    x = 1.2 * torch.randn(shape, device="cuda") + 0.3
    (ref, g_ref), (ours, g_ours) = _compare(name, x)
    assert torch.equal(ours.spikes, ref.spikes)
    for a, b in ((ours.v_seq, ref.v_seq), (ours.r_seq, ref.r_seq), (ours.state.v, ref.state.v)):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max().clamp(min=1)
    for key, value in g_ref.items():
        assert _rel(g_ours[key], value) < 1e-4, key


@pytest.mark.gpu
@pytest.mark.parametrize("surrogate_name", SURROGATE_NAMES)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset", "lif_soft"])
def test_every_surrogate_and_detach_reset_equal_the_reference(name, detach_reset, surrogate_name) -> None:
    x = 1.2 * torch.randn(700, 3, 40, device="cuda") + 0.3
    (ref, g_ref), (ours, g_ours) = _compare(name, x, surrogate=surrogate_name, detach_reset=detach_reset)
    assert torch.equal(ours.spikes, ref.spikes)
    assert (ours.v_seq - ref.v_seq).abs().max() <= 1e-5 * ref.v_seq.abs().max().clamp(min=1)
    for key, value in g_ref.items():
        assert value.abs().sum() > 0 and _rel(g_ours[key], value) < 1e-4, key


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset", "lif_soft"])
def test_gradients_with_a_carried_initial_state(name) -> None:
    """A non-zero initial membrane adds ``v0 dL/dh[0]`` to the decay's gradient."""
    x = 1.2 * torch.randn(500, 3, 40, device="cuda") + 0.3
    initial = NeuronState(0.5 * torch.randn(3, 40, device="cuda"), 0.3 * torch.rand(3, 40, device="cuda"))
    (ref, g_ref), (ours, g_ours) = _compare(name, x, initial=initial)
    assert torch.equal(ours.spikes, ref.spikes)
    for key, value in g_ref.items():
        assert value.abs().sum() > 0 and _rel(g_ours[key], value) < 1e-4, key


@pytest.mark.gpu
def test_very_long_sequences_and_no_recording() -> None:
    x = torch.randn(65536, 3, 5, device="cuda") + 0.2
    with torch.no_grad():
        ref = NEURONS["srr"]().cuda()(x)
        ours = NEURONS["srr"](backend="cupy").cuda()(x)
    assert torch.equal(ours.spikes, ref.spikes)
    assert torch.allclose(ours.state.v, ref.state.v, atol=1e-5) and torch.allclose(ours.state.r, ref.state.r, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard"])
def test_float64_equals_the_reference(name) -> None:
    x = torch.randn(500, 2, 9, device="cuda", dtype=torch.float64)
    (ref, g_ref), (ours, g_ours) = _compare(name, x)
    assert torch.equal(ours.spikes, ref.spikes)
    assert torch.allclose(ours.v_seq, ref.v_seq, atol=1e-12)
    for key, value in g_ref.items():
        assert _rel(g_ours[key], value) < 1e-10, key


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard", "lif_soft"])
def test_half_precision_in_and_out_with_float32_arithmetic(name, dtype) -> None:
    """Documented tolerance: spikes equal the float32 reference on the same (upcast) input and
    constants; potentials within the output dtype's rounding; gradients within 1% (relative
    norm; the input gradient is rounded to the input dtype)."""
    x = (torch.randn(800, 4, 32, device="cuda") + 0.3).to(dtype)
    (ref, g_ref), (ours, g_ours) = _compare(name, x)
    assert ours.spikes.dtype == dtype and torch.equal(ours.spikes.float(), ref.spikes)
    eps = torch.finfo(dtype).eps
    assert (ours.v_seq.float() - ref.v_seq).abs().max() <= eps * ref.v_seq.abs().max().clamp(min=1)
    for key, value in g_ref.items():
        assert _rel(g_ours[key], value) < 1e-2, key


@pytest.mark.gpu
def test_non_contiguous_input_and_carried_state() -> None:
    base = torch.randn(4, 300, 16, device="cuda")
    x = base.transpose(0, 1)  # [T=300, B=4, 16], not contiguous
    assert not x.is_contiguous()
    neuron = NEURONS["srr"](backend="cupy").cuda()
    first = neuron(x[:120])
    second = neuron(x[120:], first.state)
    ref = NEURONS["srr"]().cuda()(x.contiguous())
    assert torch.equal(torch.cat([first.spikes, second.spikes]), ref.spikes)


@pytest.mark.gpu
@pytest.mark.parametrize("setting", ["srr", "lif_soft", "lif_hard"])
def test_pmbc_on_the_gpu_is_exact(setting) -> None:
    x = 1.5 * torch.randn(2048, 8, 64, device="cuda") + 0.2
    ref = NEURONS[setting]().cuda()(x, record=True)
    ours = NEURONS[setting](backend="pmbc").cuda()(x, record=True)
    assert torch.equal(ours.spikes, ref.spikes)
    assert (ours.v_seq - ref.v_seq).abs().max() <= 1e-5 * ref.v_seq.abs().max().clamp(min=1)


@pytest.mark.gpu
def test_spikingjelly_node_on_the_cupy_backend() -> None:
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikessm_snn import set_backend
    from spikessm_snn.adapters.spikingjelly import SRRNode

    net = torch.nn.Sequential(sj.layer.Linear(8, 32), SRRNode(step_mode="m")).cuda()
    x = torch.randn(100, 4, 8, device="cuda")
    ref = net(x)
    sj.functional.reset_net(net)
    set_backend(net, "cupy")
    assert torch.equal(net(x), ref)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
@pytest.mark.parametrize(
    ("dtype", "name", "hard", "refractory"),
    [("float32", "triangle", False, True), ("float32", "rect", True, False), ("float16", "sigmoid", False, True),
     ("bfloat16", "atan", True, False), ("float64", "sigmoid", False, True)],
)  # fmt: skip
def test_kernels_compile_for_hopper_without_register_spills(dtype, name, hard, refractory, tmp_path) -> None:
    source = tmp_path / "kernels.cu"
    source.write_text(kernel_source(KernelSpec(dtype, surrogate(name), hard, refractory, False)))
    command = ["nvcc", "--std=c++17", "-arch=sm_90", "-Xptxas", "-v", "-c", str(source), "-o", str(tmp_path / "k.o")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    spills = re.findall(r"(\d+) bytes spill stores", done.stderr)
    assert len(spills) == 2 and all(int(s) == 0 for s in spills), done.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("requires_grad", [False, True])
def test_nan_or_inf_is_found_by_the_kernel(requires_grad) -> None:
    x = torch.randn(300, 2, 8, device="cuda")
    x[123, 1, 5] = float("nan")
    x[7, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        NEURONS["srr"](backend="cupy").cuda()(x.requires_grad_(requires_grad))
    NEURONS["srr"](backend="cupy", check_finite=False).cuda()(x)  # the check can be switched off
