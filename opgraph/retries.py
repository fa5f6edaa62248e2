"""Retry policies (Dagster's RetryPolicy, Backoff, Jitter)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum


class Backoff(Enum):
    LINEAR = "LINEAR"
    EXPONENTIAL = "EXPONENTIAL"


class Jitter(Enum):
    FULL = "FULL"
    PLUS_MINUS = "PLUS_MINUS"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 1
    delay: float | None = None
    backoff: Backoff | None = None
    jitter: Jitter | None = None

    def calculate_delay(self, attempt_num: int) -> float:
        """Seconds to wait before retry number `attempt_num` (1-based)."""
        return calculate_delay(attempt_num, self.delay or 0, self.backoff, self.jitter)


def calculate_delay(
    attempt_num: int, base_delay: float, backoff: Backoff | None, jitter: Jitter | None
) -> float:
    if backoff is Backoff.EXPONENTIAL:
        delay = base_delay * ((2**attempt_num) - 1)
    elif backoff is Backoff.LINEAR:
        delay = base_delay * attempt_num
    else:
        delay = base_delay
    if jitter is Jitter.FULL:
        delay = random.random() * delay
    elif jitter is Jitter.PLUS_MINUS:
        delay = max(0.0, delay + random.uniform(-base_delay, base_delay))
    return delay
