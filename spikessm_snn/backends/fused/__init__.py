"""Backend ``'cupy'``: fused multi-step CUDA kernels (template, launcher, constants, autograd wrapper)."""

from .autograd import fused_unsupported, run_fused
from .launch import cupy_missing

__all__ = ["cupy_missing", "fused_unsupported", "run_fused"]
