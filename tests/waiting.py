"""Waiting in tests on a condition (a status, a row, a file), never on a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    condition: Callable[[], Any], what: str, timeout: float = 60.0, poll: float = 0.05
) -> Any:
    """Until `condition()` is truthy; its value. `timeout` only bounds a failing test:
    generous, so that a loaded machine passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)
