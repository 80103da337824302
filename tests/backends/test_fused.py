"""The fused CUDA kernels (backend 'cupy') against the iterative reference.

GPU tests are marked ``gpu`` and skipped where torch sees no CUDA device. Without a GPU the
kernels themselves still run: compiled as C++ and called once per thread on the CPU through
the launcher's own argument conversion (``fused_without_gpu.py``), and compiled for the GPU by
NVRTC where it is installed.
"""

from __future__ import annotations

import ctypes
import math
import re
import weakref

import pytest
import torch
from fused_without_gpu import (
    assert_compiles_for_gpu_without_spills,
    host_compiler_missing,
    kernel_parameters,
    ptx_for_gpu,
    surrogate_on_cpu,
)

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.chunked.source import chunked_source
from spikessm_snn.backends.fused import constants, cupy_missing
from spikessm_snn.backends.fused.autograd import in_layout, is_time_last
from spikessm_snn.backends.fused.launch import _buffer as launch_buffer
from spikessm_snn.backends.fused.launch import packed_arguments, parameter_layout
from spikessm_snn.backends.fused.source import KernelSpec, kernel_source, kernel_spec, prelude
from spikessm_snn.backends.reference import run_reference
from spikessm_snn.backends.registry import constants_dtype
from spikessm_snn.neurons.dynamics import NeuronState, zero_state
from spikessm_snn.neurons.surrogate import SURROGATE_NAMES, surrogate


def _srr_some_refractory(shape=(), **kw) -> SRRNeuron:
    """SRR with a refractory magnitude on some channels only: none on the first 32 (a warp of neurons
    with no trace), then on every other channel (warps with and without one)."""
    neuron = SRRNeuron(tau=0.6, tau_r=0.8, u_th=1.0, v_th=0.5, shape=shape, **kw)
    magnitude = neuron.refractory.value  # v_th, a fixed buffer
    channel = torch.arange(magnitude.numel()).view_as(magnitude)
    magnitude.masked_fill_((channel < 32) | (channel % 2 == 1), 0.0)
    return neuron


NEURONS = {
    "srr": lambda **kw: SRRNeuron(tau=0.6, tau_r=0.8, u_th=1.0, v_th=0.5, **kw),
    "srr_trainable": lambda **kw: SRRNeuron(
        tau=0.7, tau_r=0.9, u_th=0.8, v_th=0.3, learn_tau=True, learn_tau_r=True, learn_u_th=True, learn_v_th=True, **kw
    ),
    "srr_sigmoid_detached": lambda **kw: SRRNeuron(
        tau=0.5, tau_r=0.7, v_th=0.6, learn_tau=True, learn_v_th=True, surrogate="sigmoid", detach_reset=True, **kw
    ),
    "srr_without_refractory": lambda **kw: SRRNeuron(tau=0.6, tau_r=0.8, v_th=0.0, learn_u_th=True, **kw),
    "srr_some_refractory": _srr_some_refractory,
    "lif_hard": lambda **kw: ResetLIFNeuron(tau=0.125, v_threshold=1.0, reset="hard", **kw),
    "lif_hard_offset": lambda **kw: ResetLIFNeuron(
        tau=0.5, v_threshold=0.7, reset="hard", v_reset=-0.2, learn_threshold=True, **kw
    ),
    "lif_hard_atan_detached": lambda **kw: ResetLIFNeuron(
        tau=0.8, v_threshold=0.9, reset="hard", learn_tau=True, surrogate="atan", detach_reset=True, **kw
    ),
    "lif_soft": lambda **kw: ResetLIFNeuron(tau=0.9, v_threshold=1.0, reset="soft", learn_tau=True, **kw),
    "lif_soft_rect": lambda **kw: ResetLIFNeuron(
        tau=0.6, v_threshold=0.8, reset="soft", learn_tau=True, learn_threshold=True, surrogate="rect", **kw
    ),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha", [None, 0.7])
@pytest.mark.parametrize("name", SURROGATE_NAMES)
def test_the_kernels_surrogates_equal_the_torch_ones_on_a_grid(name, alpha, dtype, tmp_path) -> None:
    """The C formulas against ``neurons/surrogate.py`` (compiled for the host: the same source)."""
    reason = host_compiler_missing()
    if reason is not None:
        pytest.skip(reason)
    s = surrogate(name, alpha)
    edges = torch.tensor([0.0, s.alpha, 0.5 / s.alpha, 1.0 / s.alpha, 2.0 / (math.pi * s.alpha)], dtype=dtype)
    z = torch.cat([torch.linspace(-4, 4, 4001, dtype=dtype), edges, -edges, edges.nextafter(-edges)])
    expected = s.derivative(z).to(dtype)
    assert expected.abs().max() > 0 and (expected == 0).float().mean() < 0.9  # the grid saw the shape
    torch.testing.assert_close(surrogate_on_cpu(tmp_path, s, dtype)(z), expected, rtol=1e-6, atol=1e-7)


def test_without_cupy_or_a_gpu_the_error_says_what_is_missing(randn) -> None:
    reason = cupy_missing()
    if reason is None:
        with pytest.raises(BackendUnavailableError, match="need a CUDA tensor"):
            SRRNeuron(backend="cupy")(randn(4, 2, dtype=torch.float32))
    else:
        with pytest.raises(BackendUnavailableError, match=r"'cupy' is not available here: (CuPy|torch sees no)"):
            SRRNeuron(backend="cupy")


def on_backend(name: str):
    """A runner for ``_compare``: ``neuron`` on backend ``name``."""

    def run(neuron, x, state, record):
        neuron.backend = name
        return neuron(x, state, record=record)

    return run


_on_the_gpu = on_backend("cupy")
GPU_EXACT = [("cupy", 1e-5), ("chunked", 0.0)]  # backends run against the loop on the GPU: (name, state tolerance)


ALL_OUTPUTS = ("spikes", "v", "r", "v_seq", "r_seq")


def _compare(name: str, x: torch.Tensor, fused=_on_the_gpu, record: bool = True, state: NeuronState | None = None,
             loss_on: tuple[str, ...] = ALL_OUTPUTS, x_grad: bool = True, **options):  # fmt: skip
    """Reference and fused results with the gradients of one loss on the outputs ``loss_on`` (the
    sequences where recorded) to the input (if ``x_grad``), every trainable constant and, where
    given, the initial state; ``options`` go to the neuron (surrogate, detach_reset). The
    reference is the loop in the accumulator type (float32; float64 for float64 input) on the
    upcast input, with the neuron's constants in that type (never rounded to a half-precision
    input's); its gradients come as ``(gradient, scale)`` (``_gradient_and_scale``)."""
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    g = torch.randn(x.shape, device=x.device, dtype=acc, generator=torch.Generator(x.device).manual_seed(7))
    outs = []
    for backend in ("torch", "fused"):
        neuron = NEURONS[name](shape=(x.shape[-1],), **options).to(x.device, acc)
        xi = x.detach().clone().requires_grad_(x_grad)
        s0 = None if state is None else NeuronState(*(s.detach().clone().requires_grad_() for s in state))
        if backend == "torch":
            x_acc = xi.to(acc)
            s_acc = zero_state(x_acc[0]) if s0 is None else NeuronState(*(s.to(acc) for s in s0))
            p = neuron.parameters_for(x_acc[0])
            result = run_reference(x_acc, s_acc, p, neuron.spike_fn, neuron.detach_reset, record)
        else:
            result = fused(neuron, xi, s0, record)
        outputs = {"spikes": result.spikes, "v": result.state.v, "r": result.state.r, "v_seq": result.v_seq,
                   "r_seq": result.r_seq}  # fmt: skip
        weights = {"spikes": g, "v": 1.0, "r": 0.5, "v_seq": 0.3 * g.flip(0), "r_seq": 0.2 * g}
        terms = [(outputs[k].to(acc) * weights[k]).sum() for k in loss_on if outputs[k] is not None]
        leaves = {**({"x": xi} if x_grad else {}), **dict(neuron.named_parameters())}
        if s0 is not None:
            leaves.update(v0=s0.v, r0=s0.r)
        if backend == "torch":
            outs.append((result, _gradient_and_scale(terms, leaves)))
        else:
            sum(terms).backward()  # one backward: the kernel gets every gradient at once
            outs.append((result, {k: leaf.grad for k, leaf in leaves.items()}))
    return outs


def _gradient_and_scale(terms: list[torch.Tensor], leaves: dict[str, torch.Tensor]) -> dict:
    """For each leaf, the gradient of ``sum(terms)`` and the size of what that gradient sums:
    ``sum_k |d term_k / d leaf|`` (elementwise, at least the gradient's size; more where the loss's
    terms cancel)."""
    per_term = [torch.autograd.grad(t, list(leaves.values()), retain_graph=True, allow_unused=True)
                for t in terms if t.requires_grad]  # fmt: skip
    out = {}
    for i, (key, leaf) in enumerate(leaves.items()):
        parts = [torch.zeros_like(leaf) if grads[i] is None else grads[i] for grads in per_term]
        out[key] = (sum(parts), sum(part.abs() for part in parts))
    return out


def _rel(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> float:
    """``|a - b|`` relative to ``scale``, the size of the terms summed into ``b``: a sum rounded in
    another order is off by a few units of rounding of its terms, not of its (maybe cancelled)
    result, while a wrong or missing term is off by a fraction of the terms."""
    return ((a.double() - b.double()).norm() / scale.double().norm().clamp(min=1e-30)).item()


def _assert_equal_to_the_reference(outs, state_tol: float, grad_tol: float, nonzero: bool = False) -> None:
    """Spikes equal; states within ``state_tol`` of the largest; gradients within ``grad_tol``
    (``_rel``), and each not all zero where ``nonzero``."""
    (ref, g_ref), (ours, g_ours) = outs
    assert torch.equal(ours.spikes.to(ref.spikes.dtype), ref.spikes)
    pairs = [(ours.state.v, ref.state.v), (ours.state.r, ref.state.r)]
    if ref.v_seq is not None:
        pairs += [(ours.v_seq, ref.v_seq), (ours.r_seq, ref.r_seq)]
    for a, b in pairs:
        assert (a.to(b.dtype) - b).abs().max() <= state_tol * b.abs().max().clamp(min=1)
    assert g_ours.keys() == g_ref.keys()
    for key, (value, scale) in g_ref.items():
        assert not nonzero or value.abs().sum() > 0, key
        assert _rel(g_ours[key], value, scale) < grad_tol, key


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEURONS)
def test_kernels_on_the_cpu_equal_the_reference(name, dtype, record, on_the_cpu) -> None:
    """The kernels' own code, run as C++: spikes bit for bit, states and gradients to rounding."""
    x = (1.2 * torch.randn(150, 2, 33, generator=torch.Generator().manual_seed(3)) + 0.3).to(dtype)
    outs = _compare(name, x, on_the_cpu, record=record)
    assert 0 < outs[0][0].spikes.mean() < 1  # the comparison saw spikes and rests
    single = dtype == torch.float32
    _assert_equal_to_the_reference(outs, 1e-6 if single else 1e-13, 1e-5 if single else 1e-12)


@pytest.mark.parametrize(
    ("dtype", "options", "error"),
    [
        ("bfloat16", {"time_last": True}, "4- or 8-byte values"),
        ("float32", {"forward_chunk": 24}, "multiple of the backward's segment"),
        ("float32", {"forward_chunk": 128}, "bytes of staged tiles"),
        ("float32", {"time_last": True, "forward_chunk": 64}, "rows must be 64 or 128 bytes"),
        ("float64", {"time_last": True, "backward_chunk": 8}, "rows must be 64 or 128 bytes"),
    ],
)
def test_a_kernel_spec_the_kernels_cannot_run_is_refused(dtype, options, error) -> None:
    with pytest.raises(ValueError, match=error):
        KernelSpec(dtype, surrogate("triangle"), True, False, **options)


def test_a_calls_kernel_spec_is_made_once() -> None:
    made = kernel_spec("float32", surrogate("sigmoid"), False, True, True)
    assert made == KernelSpec("float32", surrogate("sigmoid"), False, True, time_last=True)
    assert kernel_spec("float32", surrogate("sigmoid"), False, True, True) is made
    assert kernel_spec("float32", surrogate("sigmoid"), False, True, False) != made


@pytest.mark.parametrize("source", [kernel_source, chunked_source])
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_packed_arguments_follow_each_kernels_parameter_list(dtype, source) -> None:
    """The buffer a launch hands to the driver equals the C struct of the kernel's parameters (each
    at its natural alignment: a double or a pointer after an int starts 8 bytes on), for every kernel."""
    spec = KernelSpec(dtype, surrogate("triangle"), False, False)
    real = ctypes.c_double if spec.acc == "double" else ctypes.c_float
    tensor = torch.empty(1)  # a non-zero pointer, so that a misplaced one shows
    for name in re.findall(r'extern "C" __global__ void (\w+)\(', source(spec)):
        args, fields, values = [], [], []
        for index, (ctype, label) in enumerate(kernel_parameters(source(spec), name)):
            if ctype.endswith("*"):
                arg = tensor
                fields.append((label, ctypes.c_uint64))
                values.append(arg.data_ptr())
            elif ctype.removeprefix("const ") == "int":
                arg = -3 - index
                fields.append((label, ctypes.c_int32))
                values.append(int(arg))
            elif ctype.removeprefix("const ") == "long long":
                arg = 10**12 + index
                fields.append((label, ctypes.c_longlong))
                values.append(arg)
            else:
                assert ctype.removeprefix("const ") == "acc_t", ctype
                arg = 0.1 * index
                fields.append((label, real))
                values.append(arg)
            args.append(arg)
        layout = type(f"{name}_parameters", (ctypes.Structure,), {"_fields_": fields})(*values)
        packed = packed_arguments(spec, name, args, source)
        assert packed == bytes(layout)[: len(packed)] and ctypes.sizeof(layout) - len(packed) < 8, name
        handed = launch_buffer.fill(parameter_layout(source, spec, name), args)  # what a launch hands over
        extra = ctypes.cast(handed, ctypes.POINTER(ctypes.c_void_p))
        assert extra[1] == ctypes.addressof(launch_buffer.parameters) and launch_buffer.size.value == len(packed)
        assert launch_buffer.parameters.raw[: len(packed)] == packed, name
        nulls = packed_arguments(spec, name, [None if isinstance(a, torch.Tensor) else a for a in args], source)
        assert nulls[:8] == bytes(8) != packed[:8], name  # None: a null pointer


def test_a_training_call_after_one_under_inference_mode(on_the_cpu) -> None:
    """The neuron's fixed constants, stacked first under inference mode (for a batch of a new size),
    serve a later call with gradients (which saves them for its backward), and its gradient is the
    reference's."""
    neuron = NEURONS["lif_hard"]()
    on_the_cpu(neuron, torch.randn(40, 2, 5), None, False)  # outside inference mode: the constants rounded and kept
    x = 1.2 * torch.randn(40, 3, 5, generator=torch.Generator().manual_seed(3)) + 0.3
    with torch.inference_mode():
        on_the_cpu(neuron, x, None, False)
    xi = x.clone().requires_grad_()
    on_the_cpu(neuron, xi, None, False).spikes.sum().backward()
    xr = x.clone().requires_grad_()
    run_reference(xr, zero_state(x[0]), neuron.parameters_for(x[0]), neuron.spike_fn).spikes.sum().backward()
    torch.testing.assert_close(xi.grad, xr.grad, rtol=1e-5, atol=1e-6)


def test_calls_without_gradients_of_a_neuron_with_a_trained_constant_keep_nothing(on_the_cpu) -> None:
    """SPikE-SSM's neuron (thresholds trained, decays fixed): its trained constants are made anew at
    each call, so evaluating it (``no_grad``) call after call keeps no stack and registers no
    finalizer on its fixed ones (one each a call, before, freed only with the neuron)."""
    neuron = SRRNeuron(tau=0.6, tau_r=0.8, u_th=1.0, v_th=0.5, learn_u_th=True, learn_v_th=True)
    x = 1.2 * torch.randn(20, 2, 4, generator=torch.Generator().manual_seed(5)) + 0.3
    with torch.no_grad():
        first = on_the_cpu(neuron, x, None, False).spikes
        registered, held = len(weakref.finalize._registry), len(constants._kept)
        for _ in range(3):
            assert torch.equal(on_the_cpu(neuron, x, None, False).spikes, first)
    assert len(weakref.finalize._registry) == registered and len(constants._kept) == held
    assert torch.equal(first, run_reference(x, zero_state(x[0]), neuron.parameters_for(x[0]), neuron.spike_fn).spikes)


@pytest.mark.parametrize("steps", [1, 7, 8, 9, 15, 16, 17, 40])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset"])
def test_kernels_on_the_cpu_across_the_backward_segments(name, dtype, steps, on_the_cpu) -> None:
    """T below, at and past one and two backward segments (``KernelSpec.segment``: 16 steps in float32,
    8 in float64), the last one short: each segment recomputed from its checkpoint, exactly."""
    x = (1.2 * torch.randn(steps, 3, 4, generator=torch.Generator().manual_seed(steps)) + 0.3).to(dtype)
    single = dtype == torch.float32
    _assert_equal_to_the_reference(_compare(name, x, on_the_cpu, record=False), 1e-6 if single else 1e-13,
                                   1e-5 if single else 1e-12)  # fmt: skip


def test_time_last_is_told_from_the_strides() -> None:
    x = torch.randn(5, 2, 3)
    assert not is_time_last(x)  # contiguous [T, ...]
    y = x.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # [B, H, T] in memory, seen as [T, B, H]
    assert is_time_last(y) and is_time_last(torch.randn(2, 3, 5).permute(2, 0, 1))
    assert not is_time_last(torch.randn(2, 5, 3).permute(1, 0, 2))  # time in the middle
    assert not is_time_last(torch.randn(3, 2, 5).permute(2, 1, 0))  # the neurons reversed
    assert not is_time_last(torch.randn(2, 3, 1).permute(2, 0, 1))  # one step: contiguous either way
    assert in_layout(y, True).data_ptr() == y.data_ptr() and torch.equal(in_layout(x, True), x)
    assert is_time_last(in_layout(x, True)) and in_layout(y, False).is_contiguous()


@pytest.mark.parametrize("steps", [1, 17, 40, 100])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset", "srr_sigmoid_detached"])
def test_kernels_on_the_cpu_read_and_write_time_last_sequences(name, dtype, steps, on_the_cpu,
                                                              kernels_on_cpu) -> None:  # fmt: skip
    """A time-last input (an SSM's ``[B, H, L]`` seen as ``[L, B, H]``) is read as it is, its spikes
    and dL/dx come in its layout, equal to the reference; a partial warp (66 neurons) and a last
    tile or segment cut short."""
    x = (1.2 * torch.randn(steps, 2, 33, generator=torch.Generator().manual_seed(steps)) + 0.3).to(dtype)
    x = in_layout(x, time_last=True)
    outs = _compare(name, x, on_the_cpu, record=False)
    specs = {spec.time_last for spec, _, _ in kernels_on_cpu.calls}
    assert specs == {steps > 1}
    ours = outs[1][0]
    assert is_time_last(ours.spikes) == (steps > 1)
    single = dtype == torch.float32
    _assert_equal_to_the_reference(outs, 1e-6 if single else 1e-13, 1e-5 if single else 1e-12)


@pytest.mark.parametrize(("dtype", "record"), [(torch.bfloat16, False), (torch.float32, True)])
def test_time_last_half_precision_or_recorded_sequences_are_copied_first(dtype, record, on_the_cpu,
                                                                        kernels_on_cpu) -> None:  # fmt: skip
    x = in_layout((1.2 * torch.randn(40, 2, 9, generator=torch.Generator().manual_seed(5)) + 0.3).to(dtype), True)
    outs = _compare("srr_trainable", x, on_the_cpu, record=record)
    assert {spec.time_last for spec, _, _ in kernels_on_cpu.calls} == {False}
    if dtype == torch.float32:
        _assert_equal_to_the_reference(outs, 1e-6, 1e-5)
    else:
        _assert_half_precision(outs, dtype)


def _assert_half_precision(outs, dtype: torch.dtype) -> None:
    """Spikes equal the float32 reference on the upcast input with the float32 constants; states
    within the output dtype's rounding; gradients within 1% (relative norm; the input gradient is
    rounded to the input dtype)."""
    assert outs[1][0].spikes.dtype == dtype
    _assert_equal_to_the_reference(outs, torch.finfo(dtype).eps, 1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NEURONS)
def test_kernels_on_the_cpu_in_half_precision(name, dtype, on_the_cpu) -> None:
    x = (1.2 * torch.randn(400, 2, 33, generator=torch.Generator().manual_seed(4)) + 0.3).to(dtype)
    _assert_half_precision(_compare(name, x, on_the_cpu, record=True), dtype)


@pytest.mark.parametrize(
    ("loss_on", "x_grad"),
    [(("spikes",), True), (("v",), True), (("r", "r_seq"), True), (("v_seq",), True), (("spikes", "v"), False)],
)
@pytest.mark.parametrize("name", ["srr_trainable", "lif_soft_rect"])
def test_kernels_on_the_cpu_with_some_outputs_unused(name, loss_on, x_grad, on_the_cpu) -> None:
    x = 1.2 * torch.randn(90, 2, 9, generator=torch.Generator().manual_seed(6), dtype=torch.float64) + 0.3
    _assert_equal_to_the_reference(_compare(name, x, on_the_cpu, True, None, loss_on, x_grad), 1e-13, 1e-12)


@pytest.mark.parametrize("name", ["srr_some_refractory", "lif_hard"])
def test_kernels_on_the_cpu_trained_on_the_spikes_alone(name, on_the_cpu) -> None:
    """The loss on the spikes, no trainable constant: neurons without a refractory trace walk
    without one."""
    x = 1.2 * torch.randn(90, 2, 96, generator=torch.Generator().manual_seed(8), dtype=torch.float64) + 0.3
    outs = _compare(name, x, on_the_cpu, False, None, ("spikes",))
    _assert_equal_to_the_reference(outs, 1e-13, 1e-12, nonzero=True)


def test_unused_outputs_pass_no_gradient_to_the_kernel(kernels_on_cpu, on_the_cpu) -> None:
    """No ``[T, N]`` zeros for the gradients of ``h``, ``r`` and the final state nobody used."""
    x = torch.randn(50, 2, 8, generator=torch.Generator().manual_seed(2)).requires_grad_()
    on_the_cpu(NEURONS["srr_trainable"](), x, None, False).spikes.sum().backward()
    (spec, name, args) = kernels_on_cpu.calls[-1]
    passed = {label: arg for (_, label), arg in zip(kernel_parameters(kernel_source(spec), name), args, strict=True)}
    assert name == "neuron_backward" and passed["g_spikes"] is not None and passed["g_x"] is not None
    assert all(passed[label] is None for label in ("g_h", "g_r", "g_final"))
    assert passed["g_params"] is not None  # its constants are trainable


def test_fixed_constants_and_the_zero_state_take_no_parameter_gradient(kernels_on_cpu, on_the_cpu) -> None:
    """Fixed constants and no state given: the forward reads the zero state from null pointers, and
    the backward writes no ``[6, N]`` parameter gradients (nobody wants them), only ``dL/dx``, which
    equals the reference's."""
    x = torch.randn(60, 2, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 0.3
    neuron = NEURONS["srr"]()
    ours_x, ref_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = on_the_cpu(neuron, ours_x, None, False)
    ref = run_reference(ref_x, zero_state(x[0]), neuron.parameters_for(x[0]), neuron.spike_fn)
    g = torch.randn_like(x)
    (ours.spikes * g).sum().backward()
    (ref.spikes * g).sum().backward()
    calls = {name: dict(zip((label for _, label in kernel_parameters(kernel_source(spec), name)), args, strict=True))
             for spec, name, args in kernels_on_cpu.calls}  # fmt: skip
    assert calls["neuron_forward"]["v0"] is None and calls["neuron_forward"]["r0"] is None
    assert calls["neuron_backward"]["g_params"] is None and calls["neuron_backward"]["v0"] is None
    assert ours.spikes.sum() > 0 and torch.equal(ours.spikes, ref.spikes)
    assert torch.equal(ours.state.v, ref.state.v) and torch.equal(ours.state.r, ref.state.r)
    torch.testing.assert_close(ours_x.grad, ref_x.grad, rtol=1e-12, atol=1e-13)


def _given_state(steps: int, device: str = "cpu") -> tuple[torch.Tensor, NeuronState]:
    """Input ``[steps, 2, 9]`` float64 and a state with ``v != 0`` and ``r != 0`` in every other channel."""
    generator = torch.Generator(device).manual_seed(5)
    x = torch.randn(steps, 2, 9, generator=generator, device=device, dtype=torch.float64) + 0.3
    v = torch.randn(2, 9, generator=generator, device=device, dtype=torch.float64)
    r = torch.rand(2, 9, generator=generator, device=device, dtype=torch.float64) * (torch.arange(9, device=device) % 2)
    return x, NeuronState(v, r)


GIVEN_STATE = ["srr_trainable", "srr_without_refractory", "lif_soft_rect", "lif_hard_atan_detached", "lif_hard_offset"]


@pytest.mark.parametrize("name", GIVEN_STATE)
def test_kernels_on_the_cpu_carry_a_given_state(name, on_the_cpu) -> None:
    """A non-zero initial ``v`` and ``r`` (a trace even without a refractory magnitude): their
    gradients, and ``tau``'s through the first step's ``tau v0``."""
    x, state = _given_state(80)
    for record in (False, True):
        _assert_equal_to_the_reference(_compare(name, x, on_the_cpu, record, state), 1e-13, 1e-12)


# (surrogate, detach_reset) on the CPU (the GPU test takes every pair), for the neurons that leave both to the test
SURROGATE_SETTINGS = [("triangle", False), ("triangle", True), ("sigmoid", True), ("atan", False), ("rect", True)]
ANY_SURROGATE = ["srr_trainable", "lif_hard_offset", "lif_soft"]


@pytest.mark.parametrize(("surrogate_name", "detach_reset"), SURROGATE_SETTINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ANY_SURROGATE)
def test_kernels_on_the_cpu_with_each_surrogate_and_a_given_state(name, dtype, surrogate_name, detach_reset,
                                                                  on_the_cpu) -> None:  # fmt: skip
    """States bit for bit (the kernel rounds each operation as the loop does) and every gradient
    non-zero and to rounding, ``tau``'s through the first step's ``tau v0`` included."""
    x, state = _given_state(300)
    x, state = x.to(dtype), NeuronState(*(s.to(dtype) for s in state))
    outs = _compare(name, x, on_the_cpu, state=state, surrogate=surrogate_name, detach_reset=detach_reset)
    assert 0 < outs[0][0].spikes.mean() < 1
    _assert_equal_to_the_reference(outs, 0.0, 1e-5 if dtype == torch.float32 else 1e-12, nonzero=True)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_kernels_on_the_cpu_find_nan_or_inf(requires_grad, on_the_cpu) -> None:
    x = torch.randn(40, 2, 8, generator=torch.Generator().manual_seed(1))
    x[23, 1, 5] = float("nan")
    neuron = NEURONS["srr"]()
    with pytest.raises(ValueError, match="NaN or inf"):
        on_the_cpu(neuron, x.clone().requires_grad_(requires_grad), None, False)
    neuron.check_finite = False
    assert on_the_cpu(neuron, x.clone().requires_grad_(requires_grad), None, False).spikes[:23].sum() > 0


@pytest.mark.parametrize("requires_grad", [False, True])
def test_without_the_check_the_forward_kernel_gets_no_flag_to_read_back(requires_grad, kernels_on_cpu,
                                                                        on_the_cpu) -> None:  # fmt: skip
    """``check_finite=False``: the kernel's flag pointer is null, so nothing is read back (no host
    synchronisation), even for input that holds NaN and a state that overflows."""
    x = torch.tensor([3e38, 3e38, float("nan"), 0.0]).reshape(-1, 1, 1).expand(-1, 2, 3).contiguous()
    neuron = NEURONS["srr_trainable"](check_finite=False)
    on_the_cpu(neuron, x.requires_grad_(requires_grad), None, False)
    spec, name, args = kernels_on_cpu.calls[-1]
    passed = {label: arg for (_, label), arg in zip(kernel_parameters(kernel_source(spec), name), args, strict=True)}
    assert name == "neuron_forward" and passed["non_finite"] is None


@pytest.mark.gpu
@pytest.mark.parametrize(("backend", "state_tol"), GPU_EXACT)
@pytest.mark.parametrize("name", NEURONS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 33), (1000, 4, 64), (4096, 2, 127), (4097, 2, 127)])
def test_float32_equals_the_reference(name, shape, backend, state_tol) -> None:
    x = 1.2 * torch.randn(shape, device="cuda") + 0.3
    _assert_equal_to_the_reference(_compare(name, x, on_backend(backend)), state_tol, 1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize(("backend", "state_tol"), GPU_EXACT)
@pytest.mark.parametrize("surrogate_name", SURROGATE_NAMES)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("name", ANY_SURROGATE)
def test_each_surrogate_and_detach_reset_equal_the_reference(name, surrogate_name, detach_reset, backend,
                                                             state_tol) -> None:  # fmt: skip
    x = 1.2 * torch.randn(700, 3, 40, device="cuda") + 0.3
    outs = _compare(name, x, on_backend(backend), surrogate=surrogate_name, detach_reset=detach_reset)
    _assert_equal_to_the_reference(outs, state_tol, 1e-4, nonzero=True)


@pytest.mark.gpu
def test_very_long_sequences_and_no_recording() -> None:
    x = torch.randn(65536, 3, 5, device="cuda") + 0.2
    with torch.no_grad():
        ref = NEURONS["srr"]().cuda()(x)
        ours = NEURONS["srr"](backend="cupy").cuda()(x)
    assert torch.equal(ours.spikes, ref.spikes)
    assert torch.allclose(ours.state.v, ref.state.v, atol=1e-5) and torch.allclose(ours.state.r, ref.state.r, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard", "lif_hard_atan_detached"])
def test_float64_equals_the_reference(name) -> None:
    x = torch.randn(500, 2, 9, device="cuda", dtype=torch.float64)
    _assert_equal_to_the_reference(_compare(name, x), 1e-12, 1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize(("loss_on", "x_grad"), [(("spikes",), True), (("v",), True), (("spikes", "v"), False)])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_soft_rect"])
def test_some_outputs_unused(name, loss_on, x_grad) -> None:
    x = 1.2 * torch.randn(700, 2, 9, device="cuda", dtype=torch.float64) + 0.3
    _assert_equal_to_the_reference(_compare(name, x, record=False, loss_on=loss_on, x_grad=x_grad), 1e-12, 1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["srr_some_refractory", "lif_hard"])
def test_trained_on_the_spikes_alone(name, dtype) -> None:
    """The loss on the spikes, no trainable constant: a warp none of whose neurons has a refractory
    trace walks without one, a warp with any walks with it; both equal the reference."""
    x = (1.2 * torch.randn(1000, 2, 96, device="cuda") + 0.3).to(dtype)
    outs = _compare(name, x, record=False, loss_on=("spikes",))
    if dtype == torch.float32:
        _assert_equal_to_the_reference(outs, 1e-5, 1e-4, nonzero=True)
    else:
        _assert_half_precision(outs, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("name", GIVEN_STATE)
def test_a_given_state_and_its_gradient(name) -> None:
    x, state = _given_state(300, "cuda")
    for record in (False, True):
        _assert_equal_to_the_reference(_compare(name, x, record=record, state=state), 1e-12, 1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NEURONS)
def test_half_precision_in_and_out_with_float32_arithmetic(name, dtype) -> None:
    x = (1.2 * torch.randn(2000, 4, 64, device="cuda") + 0.3).to(dtype)
    _assert_half_precision(_compare(name, x), dtype)


def test_only_the_fused_backend_takes_half_precision_constants_in_float32() -> None:
    assert constants_dtype("cupy", torch.bfloat16) == constants_dtype("cupy", torch.float16) == torch.float32
    assert constants_dtype("cupy", torch.float64) == torch.float64
    assert constants_dtype("torch", torch.bfloat16) == torch.bfloat16
    assert constants_dtype("pmbc", torch.float16) == torch.float16


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["srr", "lif_hard"])
def test_training_keeps_at_most_four_inputs_of_memory(name, dtype) -> None:
    """Forward+backward allocates, above the input and its incoming gradient, the spikes, dL/dx and
    the checkpoints: at most 4x the input's bytes in every dtype (keeping every h and r in float32
    took 4x in float32 and 6x in half precision)."""
    x = (1.2 * torch.randn(4096, 8, 256, device="cuda") + 0.3).to(dtype).requires_grad_()
    g = torch.randn_like(x)
    neuron = NEURONS[name](backend="cupy", check_finite=False).cuda()
    neuron(x).spikes.backward(g)  # compiles the kernels
    x.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    neuron(x).spikes.backward(g)
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.cuda.max_memory_allocated() - base <= 4 * x.numel() * x.element_size()


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cupy", "chunked"])
@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_float32_spikes_equal_the_reference_where_the_potential_misses_the_threshold_by_a_subnormal(backend, reset):
    """A threshold just above float32's smallest normal and inputs 2^-149 apart around it: h - u is a
    subnormal, which the reference (on the CPU) keeps. CuPy compiles with -ftz=true, under which h - u =
    -2^-149 flushes to -0 and fires; the kernels' float32 arithmetic and comparisons keep subnormals."""
    threshold = torch.tensor(1.5e-38)  # float32 spacing here: 2^-149, a subnormal
    x = (threshold.double() + torch.arange(-40, 40, dtype=torch.float64) * 2.0**-149).float()
    x = x.view(1, 1, -1).expand(6, 2, -1).contiguous()
    for neuron_backend, device in (("torch", "cpu"), (backend, "cuda")):
        neuron = ResetLIFNeuron(tau=0.5, v_threshold=threshold.item(), reset=reset, shape=(x.shape[-1],),
                                backend=neuron_backend).to(device)  # fmt: skip
        with torch.no_grad():
            result = neuron(x.to(device))
        if neuron_backend == "torch":
            reference = result.spikes
            assert 0 < reference[0].sum() < reference[0].numel()  # some fire at the first step, some do not
        else:
            assert torch.equal(result.spikes.cpu(), reference)


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
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer

    from spikessm_snn import set_backend
    from spikessm_snn.adapters.spikingjelly import SRRNode

    net = torch.nn.Sequential(layer.Linear(8, 32), SRRNode(step_mode="m")).cuda()
    x = torch.randn(100, 4, 8, device="cuda")
    ref = net(x)
    functional.reset_net(net)
    set_backend(net, "cupy")
    assert torch.equal(net(x), ref)


@pytest.mark.parametrize(
    ("dtype", "name", "hard", "detach", "time_last"),
    [("float32", "triangle", False, False, False), ("float32", "rect", True, True, False),
     ("float16", "sigmoid", False, False, False), ("bfloat16", "atan", True, False, False),
     ("float64", "sigmoid", False, True, False), ("float32", "triangle", True, False, True),
     ("float64", "atan", False, False, True)],
)  # fmt: skip
def test_kernels_compile_for_hopper_without_register_spills(dtype, name, hard, detach, time_last) -> None:
    spec = KernelSpec(dtype, surrogate(name), hard, detach, time_last=time_last)
    assert_compiles_for_gpu_without_spills(kernel_source(spec), 2)


_EXACT_OPERATIONS_PROBE = r"""
extern "C" __global__ void probe(float* out, const float* a, const float* b) {
  out[0] = mul(a[0], b[0]);
  out[1] = add(a[1], b[1]);
  out[2] = sub(a[2], b[2]);
  out[3] = at_least(a[3], b[3]) ? 1.0f : 0.0f;
  out[4] = differs(a[4], b[4]) ? 1.0f : 0.0f;
}
"""


def test_float32_arithmetic_and_comparisons_compile_to_instructions_that_keep_subnormals() -> None:
    """CuPy compiles with -ftz=true, under which a float32 add, multiply, negation or comparison may come
    out flushing subnormals (.ftz: h - u = -2^-149 would fire). The kernels' mul, add, sub, at_least and
    differs, compiled as CuPy does, must use none (the GPU test with a subnormal margin checks the spikes)."""
    ptx = ptx_for_gpu(prelude(KernelSpec("float32", surrogate("triangle"), False, False)) + _EXACT_OPERATIONS_PROBE)
    floating = [line.strip() for line in ptx.splitlines() if re.search(r"\b(add|sub|mul|neg|fma|setp)\.\S*f32", line)]
    assert len(floating) >= 5, ptx  # a multiply, an add, sub's fused multiply-add by -1, two comparisons
    assert not [line for line in floating if ".ftz" in line], floating


@pytest.mark.gpu
@pytest.mark.parametrize("steps", [1000, 999])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["srr_trainable", "lif_hard_offset"])
def test_time_last_sequences_on_the_gpu(name, dtype, steps) -> None:
    """Time-last input read as it is (the warp's lanes copy and write its neurons' steps in 16-byte
    pieces; a value at a time where the rows are not 16-byte aligned: 999 steps): equal to the
    reference over many tiles and segments, a partial warp (210 neurons)."""
    x = torch.randn(steps, 3, 70, device="cuda", generator=torch.Generator("cuda").manual_seed(11))
    outs = _compare(name, in_layout((1.2 * x + 0.3).to(dtype), True), record=False)
    assert is_time_last(outs[1][0].spikes) and 0 < outs[0][0].spikes.mean() < 1
    single = dtype == torch.float32
    _assert_equal_to_the_reference(outs, 1e-6 if single else 1e-13, 1e-5 if single else 1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("requires_grad", [False, True])
def test_nan_or_inf_is_found_by_the_kernel(requires_grad) -> None:
    x = torch.randn(300, 2, 8, device="cuda")
    x[123, 1, 5] = float("nan")
    x[7, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        NEURONS["srr"](backend="cupy").cuda()(x.requires_grad_(requires_grad))
    NEURONS["srr"](backend="cupy", check_finite=False).cuda()(x)  # the check can be switched off


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["srr_trainable", "srr", "lif_hard"])
def test_no_host_synchronisation_without_the_check(name) -> None:
    """With ``check_finite=False`` a forward and a backward only queue work on the device, also
    after an optimizer-like change of the trainable constants: torch's sync debug mode raises at
    any synchronising call. With the check, its one read-back raises there."""
    x = torch.randn(200, 4, 16, device="cuda") + 0.3
    neuron = NEURONS[name](shape=(16,), backend="cupy", check_finite=False).cuda()
    neuron(x.clone().requires_grad_()).spikes.sum().backward()  # compile and load the kernels first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            for parameter in neuron.parameters():
                parameter.add_(0.01)
        with torch.no_grad():
            neuron(x)
        result = neuron(x.clone().requires_grad_(), record=True)
        (result.spikes.sum() + result.v_seq.sum() + result.state.v.sum()).backward()
        neuron.check_finite = True
        with pytest.raises(RuntimeError, match="synchroniz"):
            neuron(x)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["spikingssm", "spike-ssm"])
def test_a_block_training_step_captures_in_a_cuda_graph(kind) -> None:
    """Forward, backward and Adam of a SpikingSSM / SPikE-SSM block, its neuron on 'cupy' with
    ``check_finite=False``, captured in one CUDA graph: replays give the eager steps' losses and
    parameters (nothing in the step waits for the host)."""
    from spikessm_snn.ssm import spike_ssm_block, spiking_ssm_block

    make = {"spikingssm": spiking_ssm_block, "spike-ssm": spike_ssm_block}[kind]
    blocks = []
    for _ in range(2):
        torch.manual_seed(0)
        block = make(32, backend="cupy", d_state=16).cuda()
        block.activation.neuron.check_finite = False
        blocks.append(block)
    eager, graphed = blocks
    optimizers = [torch.optim.Adam(b.parameters(), lr=1e-3, capturable=True) for b in blocks]
    generator = torch.Generator("cuda").manual_seed(1)
    batches = [(torch.randn(4, 32, 256, device="cuda", generator=generator),
                torch.randn(4, 32, 256, device="cuda", generator=generator)) for _ in range(6)]  # fmt: skip

    def step(block, optimizer, u, target):
        optimizer.zero_grad(set_to_none=True)
        loss = ((block(u) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    static_u, static_target = (t.clone() for t in batches[0])
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up, as torch's whole-network capture recipe asks
        for _ in range(3):
            step(graphed, optimizers[1], static_u, static_target)
    torch.cuda.current_stream().wait_stream(side)
    for _ in range(3):
        step(eager, optimizers[0], *batches[0])
    graph = torch.cuda.CUDAGraph()
    optimizers[1].zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = step(graphed, optimizers[1], static_u, static_target)
    before = [p.detach().clone() for p in eager.parameters()]
    for u, target in batches[1:]:
        static_u.copy_(u)
        static_target.copy_(target)
        graph.replay()
        eager_loss = step(eager, optimizers[0], u, target)
        torch.testing.assert_close(static_loss, eager_loss, rtol=1e-4, atol=1e-6)  # a stale replay is off by O(1)
    for p_eager, p_graphed, p_before in zip(eager.parameters(), graphed.parameters(), before, strict=True):
        moved = (p_eager - p_before).norm()
        assert moved > 0 and (p_graphed - p_eager).norm() <= 1e-2 * moved
    rate = eager.activation.spike_rate()  # both counted 3 warm-up steps and 5 more, the replays in place
    assert 0 < rate < 1 and graphed.activation.spike_rate() == pytest.approx(rate, rel=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_neuron_calls_captured_in_cuda_graphs_replay_as_eager_ones(dtype) -> None:
    """A forward and a forward+backward of SRR neurons with trained thresholds on ``'cupy'``
    (``check_finite=False``), each captured in its own CUDA graph (two graphs live at once, as the
    benchmark's are not: torch's FFT backward cannot), replay the eager calls on new input: the same
    spikes, the same gradients to the input and to the thresholds."""
    make = NEURONS["srr_trainable"]
    graphed, eager = (make(shape=(16,), backend="cupy", check_finite=False).cuda() for _ in range(2))
    generator = torch.Generator("cuda").manual_seed(2)
    inputs = [(1.2 * torch.randn(300, 4, 16, device="cuda", generator=generator) + 0.3).to(dtype) for _ in range(3)]
    g = torch.randn(300, 4, 16, device="cuda", generator=generator).to(dtype)
    static_x = inputs[0].clone()
    outputs: dict[str, torch.Tensor] = {}

    def forward() -> None:
        with torch.no_grad():
            outputs["spikes"] = graphed(static_x).spikes

    def forward_backward() -> None:
        graphed.zero_grad(set_to_none=False)
        xi = static_x.detach().requires_grad_()
        graphed(xi).spikes.backward(g)
        outputs["g_x"] = xi.grad

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            forward_backward()
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graphs = {"forward": torch.cuda.CUDAGraph(), "forward_backward": torch.cuda.CUDAGraph()}
    with torch.cuda.graph(graphs["forward_backward"]):
        forward_backward()
    with torch.cuda.graph(graphs["forward"]):
        forward()
    for x in inputs[1:]:
        static_x.copy_(x)
        graphs["forward"].replay()
        graphs["forward_backward"].replay()
        xe = x.clone().requires_grad_()
        eager.zero_grad(set_to_none=True)
        spikes = eager(xe).spikes
        spikes.backward(g)
        assert spikes.any() and torch.equal(outputs["spikes"], spikes)
        torch.testing.assert_close(outputs["g_x"], xe.grad, rtol=0, atol=0)
        for p_graphed, p_eager in zip(graphed.parameters(), eager.parameters(), strict=True):
            torch.testing.assert_close(p_graphed.grad, p_eager.grad, rtol=1e-5, atol=1e-6)
