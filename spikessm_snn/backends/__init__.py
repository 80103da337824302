"""Multi-step backends, each beside the reference it is tested against, behind one registry."""

from .registry import BACKENDS, available_backends, get_backend, run_backend
from .result import BackendUnavailableError, MultiStepResult
from .selection import set_backend

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "MultiStepResult",
    "available_backends",
    "get_backend",
    "run_backend",
    "set_backend",
]
