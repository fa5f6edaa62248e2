"""What every part of the daemon is: a `tick(now)` on storage and an injected clock.

The controller (controller.py) runs each part in its own thread: tick, heartbeat, wait.
A part never sleeps inside `tick`, so tests call `tick(now)` with any `now` they like.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]


@dataclass
class TickReport:
    """What one tick did (`info`, shown in the heartbeat) and what went wrong on the way
    (`errors`: the tick went on past them; each names what failed and why)."""

    info: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def count(self, key: str, amount: int = 1) -> None:
        self.info[key] = self.info.get(key, 0) + amount


class DaemonPart(ABC):
    name: str  # the heartbeat's daemon_type, e.g. "SCHEDULER"
    interval_seconds: float = 5.0

    @abstractmethod
    def tick(self, now: float) -> TickReport: ...

    def wait(self, timeout: float, halt: threading.Event) -> None:
        """Between ticks: wait `timeout` s, or less if `halt` is set (or work arrived)."""
        halt.wait(timeout)

    def close(self) -> None:  # noqa: B027 - most parts hold nothing
        """Release what the part holds (called when the daemon stops or goes standby)."""
