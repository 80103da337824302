"""PMBC's Triton kernels against their torch references: under Triton's interpreter on CPU, and on
the GPU for real; then PMBC as a whole through the kernels against the ``'torch'`` loop."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import SRRNeuron
from spikessm_snn.backends import scan
from spikessm_snn.backends.pmbc import compression, kernels

pytest.importorskip("triton")

DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU runs the kernels")),
    pytest.param("cuda", marks=pytest.mark.gpu),
]


@pytest.fixture
def device(request) -> str:
    """The device to run on; on CPU the kernels run under Triton's interpreter (``conftest.py``)."""
    return request.param


def _constants(cols: int, generator: torch.Generator, device: str) -> tuple[torch.Tensor, ...]:
    tau = torch.rand(cols, generator=generator, dtype=torch.float64)
    tau_r = torch.rand(cols, generator=generator, dtype=torch.float64)
    tau[0], tau_r[0], tau[1], tau_r[2] = 1.0, 0.0, 1e-30, 1.0 - 1e-9  # integrator, no refractory memory, ...
    threshold = torch.rand(cols, generator=generator, dtype=torch.float64) + 0.5
    refractory = torch.rand(cols, generator=generator, dtype=torch.float64)
    return tuple(t.to(device) for t in (tau, threshold, tau_r, refractory))


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize(("rows", "cols"), [(1, 4), (63, 5), (150, 40), (257, 33)])
def test_the_scan_kernel_equals_the_reference_scan_and_the_loop(device, rows, cols, randn) -> None:
    generator = torch.Generator().manual_seed(rows * 1000 + cols)
    gaps = torch.randint(1, 30, (rows, cols), generator=generator).double().to(device)
    decay = _constants(cols, generator, device)[0]
    b, y0 = randn(rows, cols).to(device), randn(cols).to(device)
    rate = gaps * -torch.log(decay)
    expected, y = [], y0
    for k in range(rows):
        y = decay ** gaps[k] * y + b[k]
        expected.append(y)
    got = kernels.linear_scan(rate, b, y0)
    assert torch.allclose(got, torch.stack(expected), rtol=1e-11, atol=1e-11)
    assert torch.allclose(got, scan.linear_scan(rate, b, y0), rtol=1e-11, atol=1e-11)
    per_column = kernels.linear_scan(-torch.log(decay), b[:, :1].expand(rows, cols), y0)  # broadcast b: stride 0
    assert torch.allclose(per_column, scan.linear_scan(-torch.log(decay), b[:, :1].expand(rows, cols), y0),
                          rtol=1e-11, atol=1e-11)  # fmt: skip


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize(("rows", "cols"), [(1, 3), (40, 70), (130, 9)])
def test_the_finish_kernel_equals_the_reference_finish(device, rows, cols, randn) -> None:
    generator = torch.Generator().manual_seed(rows + cols)
    gaps = torch.randint(1, 6, (rows, cols), generator=generator).double().to(device)
    base = (2 * randn(rows, cols) + 0.5).to(device)
    base[rows // 2 :, cols // 2] = -torch.inf  # a column padded past its half
    guard = torch.full_like(base, 1e-3)
    args = (base, gaps, guard, *_constants(cols, generator, device))
    fires, in_band = kernels.finish(*args)
    fires_ref, in_band_ref = compression.finish_reference(*args)
    assert torch.equal(in_band, in_band_ref)
    assert torch.equal(fires[:, ~in_band], fires_ref[:, ~in_band]) and fires_ref.any() and not fires_ref.all()


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize("finish_rows", [0, 16])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pmbc_through_the_kernels_equals_the_loop(device, finish_rows, dtype, randn, monkeypatch) -> None:
    monkeypatch.setattr(compression, "FUSED_FINISH_ROWS", finish_rows)
    monkeypatch.setattr(kernels, "triton_missing", lambda x: None)  # the kernels on CPU too (interpreted)
    x = randn(160, 2, 6, dtype=dtype, scale=1.5, mean=0.2).to(device)
    make = lambda backend: SRRNeuron(tau=0.5, tau_r=0.8, u_th=1.0, v_th=0.5, backend=backend).to(device, dtype)  # noqa: E731
    ref, ours = make("torch")(x, record=True), make("pmbc")(x, record=True)
    assert torch.equal(ours.spikes, ref.spikes) and ours.stats["iterations"] >= 1
    assert torch.allclose(ours.v_seq, ref.v_seq, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES, indirect=True)
@pytest.mark.parametrize(("rows", "cols", "dense"), [(1, 4, False), (70, 33, False), (150, 6, True)])
def test_the_earlier_sums_kernel_equals_the_reference(device, rows, cols, dense) -> None:
    generator = torch.Generator().manual_seed(rows + 7 * cols)
    if dense:  # the first pass: every step there, gap 1, every weight 1 (stride-0 tensors)
        gaps = torch.ones(1, 1, dtype=torch.float64, device=device)
        weight = torch.ones(1, 1, dtype=torch.bool, device=device).expand(rows, cols)
    else:
        gaps = torch.randint(1, 12, (rows, cols), generator=generator).double().to(device)
        weight = (torch.rand(rows, cols, generator=generator) < 0.4).to(device)
    args = (gaps, weight, *_constants(cols, generator, device))
    got, expected = kernels.earlier_sums(*args), compression.earlier_sums_reference(*args)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert (expected.abs().sum() > 0) == (rows > 1)  # one row has no earlier entries
