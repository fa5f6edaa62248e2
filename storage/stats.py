"""Aggregates for `/metrics`: counts by status and step-attempt timing histograms.

Read at scrape time, so every webserver replica reports the same numbers (aggregate
them with `max`, not `sum`). One statement per figure; the status counts use the
status indexes, the histograms scan the step_attempts table once each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opgraph_storage.engine import connect_or_raise
from opgraph_storage.schema import runs, step_attempts

_attempt = step_attempts.c


@dataclass
class Histogram:
    """Cumulative counts per upper bound (`le`), as Prometheus wants them."""

    buckets: list[tuple[float, int]]
    count: int
    total: float


@dataclass
class InstanceStats:
    runs_by_status: dict[str, int] = field(default_factory=dict)
    attempts_by_status: dict[str, int] = field(default_factory=dict)
    attempts_by_queue_status: dict[tuple[str, str], int] = field(default_factory=dict)
    attempts_retried: int = 0
    step_duration: Histogram | None = None
    dispatch_latency: Histogram | None = None


def _histogram(
    conn: Any,
    seconds: sa.ColumnElement[float],
    where: sa.ColumnElement[bool],
    bounds: Sequence[float],
) -> Histogram:
    columns = [sa.func.sum(sa.case((seconds <= bound, 1), else_=0)) for bound in bounds]
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(seconds), *columns).where(where)
    ).one()
    count, total, *cumulative = row
    buckets = [(bound, int(n or 0)) for bound, n in zip(bounds, cumulative, strict=True)]
    return Histogram([*buckets, (float("inf"), int(count))], int(count), float(total or 0.0))


def instance_stats(
    storage: Any, duration_bounds: Sequence[float], latency_bounds: Sequence[float]
) -> InstanceStats:
    """Counts and histograms over the whole storage (`storage` is a SqlStorage)."""
    stats = InstanceStats()
    with connect_or_raise(storage.engine) as conn:
        for status, count in conn.execute(
            sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
        ):
            stats.runs_by_status[status] = count
        for queue, status, count in conn.execute(
            sa.select(_attempt.queue, _attempt.status, sa.func.count()).group_by(
                _attempt.queue, _attempt.status
            )
        ):
            key = (queue or "", status)
            stats.attempts_by_queue_status[key] = count
            stats.attempts_by_status[status] = stats.attempts_by_status.get(status, 0) + count
        stats.attempts_retried = conn.execute(
            sa.select(sa.func.count()).where(_attempt.attempt_number > 0)  # numbered from 0
        ).scalar_one()
        stats.step_duration = _histogram(
            conn,
            _attempt.ended_at - _attempt.started_at,
            sa.and_(_attempt.started_at.is_not(None), _attempt.ended_at.is_not(None)),
            duration_bounds,
        )
        stats.dispatch_latency = _histogram(
            conn,
            _attempt.started_at - _attempt.queued_at,
            _attempt.started_at.is_not(None),
            latency_bounds,
        )
    return stats
