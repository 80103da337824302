"""Fixtures of the data tests: a reader that must return (or raise) rather than hang."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def outcome_within() -> Callable[..., BaseException | None]:
    """``outcome_within(seconds, function, *args)``: run ``function`` in a daemon thread and return
    what it raised (``None`` if nothing); fail the test if it is still running after ``seconds``
    (it blocked, e.g. on a FIFO, or read an endless device)."""

    def run(seconds: float, function: Callable[..., Any], *args: Any) -> BaseException | None:
        caught: list[BaseException | None] = [None]

        def target() -> None:
            try:
                function(*args)
            except BaseException as error:  # handed to the test
                caught[0] = error

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(seconds)
        assert not thread.is_alive(), f"{getattr(function, '__name__', function)} did not return within {seconds} s"
        return caught[0]

    return run
