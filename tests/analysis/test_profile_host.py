"""The host profile's breakdown of a call: what its operations cost the host, counted per call."""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity

from analysis.profile_host import host_breakdown, ops_section


def test_the_breakdown_counts_each_operation_per_call_and_ranks_by_own_time() -> None:
    a, b = torch.randn(64, 64), torch.randn(64, 64)

    def call() -> None:
        torch.add(a, b)
        torch.add(a, b)
        torch.matmul(a, b)

    total, ops = host_breakdown(call, top=10, activities=(ProfilerActivity.CPU,))
    calls = {name: count for name, count, _ in ops}
    assert calls["aten::add"] == 2 and calls["aten::matmul"] == 1
    own = [us for _, _, us in ops]
    assert own == sorted(own, reverse=True) and 0 < sum(own) <= total + 1e-6


def test_a_section_says_what_is_left_for_python() -> None:
    lines = ops_section("srr, N 256", host_ms=0.3, total_us=120.0, ops=[("cudaLaunchKernel", 6, 42.0)])
    assert "profiled operations' own time 120 us, the rest (Python) 180 us" in lines[2]
    assert "| cudaLaunchKernel | 6 | 42.0 |" in lines
