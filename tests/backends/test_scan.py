"""The parallel recurrences against plain loops."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.backends.scan import linear_scan, reverse_affine_scan


@pytest.mark.parametrize("steps", [1, 2, 63, 64, 65, 1000, 5000])
@pytest.mark.parametrize("smallest_decay", [0.0, 1e-300, 1e-40, 0.01, 0.5, 0.999, 1.0])
def test_a_constant_decay_scan_equals_the_loop(steps, smallest_decay, randn) -> None:
    a = torch.rand(6, dtype=torch.float64) * (1 - smallest_decay) + smallest_decay
    a[0] = smallest_decay
    b, y0 = randn(steps, 6), randn(6)
    expected, y = [], y0
    for t in range(steps):
        y = a * y + b[t]
        expected.append(y)
    assert torch.allclose(linear_scan(-torch.log(a), b, y0), torch.stack(expected), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("steps", [1, 2, 63, 64, 65, 1000, 5000])
@pytest.mark.parametrize("decay", [0.0, 1e-30, 0.125, 0.5, 0.99, 1.0])
def test_linear_scan_with_uneven_gaps_equals_the_loop(steps, decay, randn) -> None:
    """Per-step rates ``gap * (-log a)`` (steps unevenly spaced in time, as PMBC's packed table)."""
    gaps = torch.randint(1, 200, (steps, 5), generator=torch.Generator().manual_seed(steps)).double()
    a = torch.full((5,), decay, dtype=torch.float64)
    a[0] = 0.7
    b, y0 = randn(steps, 5), randn(5)
    expected, y = [], y0
    for t in range(steps):
        y = a ** gaps[t] * y + b[t]
        expected.append(y)
    got = linear_scan(gaps * -torch.log(a), b, y0)
    assert torch.allclose(got, torch.stack(expected), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("steps", [1, 2, 3, 17, 256, 1000])
def test_reverse_affine_scan_equals_the_loop(steps, randn) -> None:
    a = tuple(0.6 * randn(steps, 5) for _ in range(4))
    c = (randn(steps, 5), randn(steps, 5))
    y1, y2 = torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    out1, out2 = [], []
    for t in reversed(range(steps)):
        y1, y2 = a[0][t] * y1 + a[1][t] * y2 + c[0][t], a[2][t] * y1 + a[3][t] * y2 + c[1][t]
        out1.append(y1)
        out2.append(y2)
    got1, got2 = reverse_affine_scan(a, c)
    assert torch.allclose(got1, torch.stack(out1[::-1]), atol=1e-11)
    assert torch.allclose(got2, torch.stack(out2[::-1]), atol=1e-11)
