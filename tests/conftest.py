"""Shared fixtures: fresh random inputs (never zeros), seeded per test, and the GPU marker; without a GPU,
Triton kernels run under Triton's interpreter; one CPU thread per test process."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

import pytest
import torch

if not torch.cuda.is_available():  # Triton kernels run under its interpreter on CPU: decided before it is imported
    os.environ.setdefault("TRITON_INTERPRET", "1")
# The tests' tensors are small: one thread is faster, and two threads on a busy 2-core machine are many
# times slower than one. Subprocesses started by the tests inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def randn(request: pytest.FixtureRequest) -> Callable[..., torch.Tensor]:
    """``randn(*shape, dtype=float64, scale=1, mean=0)``: normal samples from a generator seeded
    by the test's id, so every test draws its own inputs and a failure reproduces."""
    generator = torch.Generator().manual_seed(zlib.crc32(request.node.nodeid.encode()))

    def draw(*shape: int, dtype: torch.dtype = torch.float64, scale: float = 1.0, mean: float = 0.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale + mean).to(dtype)

    return draw


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
