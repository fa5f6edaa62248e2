"""Records <-> table rows: JSON columns as compact text, enums as their string values."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Row

from opgraph_storage.records import (
    EventRecord,
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    TickRecord,
    TickStatus,
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def enum_text(value: Any) -> str:
    """The plain string of a str-valued enum member (or of a str)."""
    return value.value if hasattr(value, "value") else value


def run_values(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "status": enum_text(run.status),
        "run_config": dumps(run.run_config),
        "parent_run_id": run.parent_run_id,
        "root_run_id": run.root_run_id,
        "code_pointer": None if run.code_pointer is None else dumps(run.code_pointer),
        "location_name": run.location_name,
        "code_version": run.code_version,
        "run_key": run.run_key,
        "snapshot_id": run.snapshot_id,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "updated_at": run.updated_at,
        "worker_heartbeat_at": run.worker_heartbeat_at,
    }


def run_from_row(row: Row[Any], tags: dict[str, str]) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        job_name=row.job_name,
        status=RunStatus(row.status),
        run_config=json.loads(row.run_config),
        tags=tags,
        parent_run_id=row.parent_run_id,
        root_run_id=row.root_run_id,
        code_pointer=None if row.code_pointer is None else json.loads(row.code_pointer),
        location_name=row.location_name,
        code_version=row.code_version,
        run_key=row.run_key,
        snapshot_id=row.snapshot_id,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        updated_at=row.updated_at,
        worker_heartbeat_at=row.worker_heartbeat_at,
    )


def event_row(event: EventRecord) -> tuple[Any, ...]:
    # Column order of event_sql._EVENT_COLUMNS.
    return (
        event.run_id,
        enum_text(event.event_type),
        event.step_key,
        event.attempt,
        event.level,
        event.message,
        event.timestamp,
        dumps(event.data),
    )


def event_from_row(row: Row[Any]) -> EventRecord:
    return EventRecord(
        run_id=row.run_id,
        event_type=row.event_type,
        timestamp=row.timestamp,
        step_key=row.step_key,
        attempt=row.attempt,
        level=row.level,
        message=row.message,
        data=json.loads(row.data),
        storage_id=row.id,
    )


def instigator_from_row(row: Row[Any]) -> InstigatorState:
    return InstigatorState(
        name=row.name,
        instigator_type=InstigatorType(row.instigator_type),
        status=InstigatorStatus(row.status),
        data=json.loads(row.data),
        updated_at=row.updated_at,
    )


def tick_values(tick: TickRecord) -> dict[str, Any]:
    return {
        "instigator_name": tick.instigator_name,
        "tick_key": tick.tick_key,
        "status": enum_text(tick.status),
        "timestamp": tick.timestamp,
        "run_ids": dumps(tick.run_ids),
        "skip_reason": tick.skip_reason,
        "error": tick.error,
        "cursor": tick.cursor,
    }


def tick_from_row(row: Row[Any]) -> TickRecord:
    return TickRecord(
        instigator_name=row.instigator_name,
        tick_key=row.tick_key,
        status=TickStatus(row.status),
        timestamp=row.timestamp,
        run_ids=json.loads(row.run_ids),
        skip_reason=row.skip_reason,
        error=row.error,
        cursor=row.cursor,
        tick_id=row.id,
    )


def attempt_values(attempt: StepAttempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.attempt_id,
        "run_id": attempt.run_id,
        "step_key": attempt.step_key,
        "attempt_number": attempt.attempt_number,
        "status": enum_text(attempt.status),
        "queue": attempt.queue,
        "priority": attempt.priority,
        "hostname": attempt.hostname,
        "pid": attempt.pid,
        "queued_at": attempt.queued_at,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "heartbeat_at": attempt.heartbeat_at,
        "reason": attempt.reason,
    }


def attempt_from_row(row: Row[Any]) -> StepAttempt:
    return StepAttempt(
        attempt_id=row.attempt_id,
        run_id=row.run_id,
        step_key=row.step_key,
        attempt_number=row.attempt_number,
        status=StepAttemptStatus(row.status),
        queue=row.queue,
        priority=row.priority,
        hostname=row.hostname,
        pid=row.pid,
        queued_at=row.queued_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
        reason=row.reason,
    )
