"""Schedules and sensors in GraphQL: status, next ticks, last ticks, dry runs.

The definitions come from the workspace's code locations; the running/stopped state,
cursors and ticks from the instance's storage (see opgraph/daemon/instigators.py).
"""

from __future__ import annotations

import time
from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from opgraph.daemon.instigators import Instigator, next_tick_times
from opgraph.workspace.base import ScheduleSnapshot, SensorSnapshot, TickEvaluation
from opgraph_app.graphql.errors import TypedError
from opgraph_storage.records import TickRecord

MAX_TICKS = 100
MAX_NEXT_TICKS = 100


class InstigatorNotFoundError(TypedError):
    """No schedule or sensor has this name (or it is in several locations)."""

    name = graphene.String(required=True)


class InstigationStatus(graphene.Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class Tick(graphene.ObjectType):
    tick_id = graphene.Int()
    tick_key = graphene.String(required=True)
    status = graphene.String(required=True, description="STARTED, SUCCESS, SKIPPED or FAILURE")
    timestamp = graphene.Float(required=True)
    run_ids = graphene.List(graphene.NonNull(graphene.String), required=True)
    skip_reason = graphene.String()
    error = graphene.String()
    cursor = graphene.String()


def tick(record: TickRecord) -> Tick:
    return Tick(
        tick_id=record.tick_id,
        tick_key=record.tick_key,
        status=record.status.value,
        timestamp=record.timestamp,
        run_ids=record.run_ids,
        skip_reason=record.skip_reason,
        error=record.error,
        cursor=record.cursor,
    )


def _resolve_ticks(root: Any, info: Any, limit: int | None = 10) -> list[Tick]:
    """`ticks` of a Schedule or a Sensor (`root.key` is set by `_rooted`)."""
    limit = max(1, min(10 if limit is None else limit, MAX_TICKS))  # null: the default
    return [tick(t) for t in info.context.instance.storage.get_ticks(root.key, limit=limit)]


class Schedule(graphene.ObjectType):
    name = graphene.String(required=True, description="LOCATION:SCHEDULE")
    schedule_name = graphene.String(required=True)
    location_name = graphene.String(required=True)
    job_name = graphene.String(required=True)
    cron_schedule = graphene.String(required=True)
    execution_timezone = graphene.String(required=True)
    description = graphene.String()
    status = graphene.Field(InstigationStatus, required=True)
    default_status = graphene.Field(InstigationStatus, required=True)
    next_tick_timestamps = graphene.List(
        graphene.NonNull(graphene.Float), required=True, limit=graphene.Int(default_value=5)
    )
    ticks = graphene.List(
        graphene.NonNull(Tick), required=True, limit=graphene.Int(default_value=10)
    )

    @staticmethod
    def resolve_next_tick_timestamps(root: Any, _info: Any, limit: int | None = 5) -> list[float]:
        assert isinstance(root.definition, ScheduleSnapshot)
        limit = max(1, min(5 if limit is None else limit, MAX_NEXT_TICKS))  # null: the default
        return next_tick_times(root.definition, time.time(), limit)

    resolve_ticks = staticmethod(_resolve_ticks)


def schedule(item: Instigator) -> Any:
    definition = item.definition
    assert isinstance(definition, ScheduleSnapshot)
    return _rooted(
        Schedule,
        item,
        schedule_name=definition.name,
        cron_schedule=definition.cron_schedule,
        execution_timezone=definition.execution_timezone or "UTC",
    )


class Sensor(graphene.ObjectType):
    name = graphene.String(required=True, description="LOCATION:SENSOR")
    sensor_name = graphene.String(required=True)
    location_name = graphene.String(required=True)
    job_name = graphene.String(required=True)
    minimum_interval_seconds = graphene.Int(required=True)
    description = graphene.String()
    status = graphene.Field(InstigationStatus, required=True)
    default_status = graphene.Field(InstigationStatus, required=True)
    cursor = graphene.String()
    ticks = graphene.List(
        graphene.NonNull(Tick), required=True, limit=graphene.Int(default_value=10)
    )

    resolve_ticks = staticmethod(_resolve_ticks)


def sensor(item: Instigator) -> Any:
    definition = item.definition
    assert isinstance(definition, SensorSnapshot)
    return _rooted(
        Sensor,
        item,
        sensor_name=definition.name,
        minimum_interval_seconds=definition.minimum_interval_seconds,
        cursor=item.data.get("cursor"),
    )


def _rooted(kind: type[graphene.ObjectType], item: Instigator, **fields: Any) -> Any:
    """A Schedule or Sensor: the fields both have, then its own `fields`, plus what the
    tick and next-tick resolvers read (`key`, `definition`)."""
    definition = item.definition
    view = kind(
        name=item.key,
        location_name=item.location.name,
        job_name=definition.job_name,
        description=definition.description,
        status="RUNNING" if item.running else "STOPPED",
        default_status=definition.default_status,
        **fields,
    )
    view.key = item.key
    view.definition = definition
    return view


class Schedules(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(Schedule), required=True)


class Sensors(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(Sensor), required=True)


class RunRequest(graphene.ObjectType):
    run_key = graphene.String()
    job_name = graphene.String()
    run_config = GenericScalar(required=True)
    tags = GenericScalar(required=True, description="{key: value}")


class DryRun(graphene.ObjectType):
    """What one evaluation asked for; nothing was created or stored."""

    run_requests = graphene.List(graphene.NonNull(RunRequest), required=True)
    skip_reason = graphene.String()
    cursor = graphene.String()
    error = graphene.String(description="The user function raised: message and traceback.")


def dry_run(evaluation: TickEvaluation) -> DryRun:
    error = evaluation.error
    return DryRun(
        run_requests=[
            RunRequest(run_key=r.run_key, job_name=r.job_name, run_config=r.run_config, tags=r.tags)
            for r in evaluation.run_requests
        ],
        skip_reason=evaluation.skip_message,
        cursor=evaluation.cursor,
        error=None if error is None else f"{error.describe()}\n{error.traceback}",
    )
