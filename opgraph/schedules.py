"""Schedules and sensors: definable and inspectable here; the daemon runs them."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from croniter import croniter

from opgraph.errors import DefinitionError


class DefaultScheduleStatus(Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class DefaultSensorStatus(Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass
class RunRequest:
    run_key: str | None = None
    run_config: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    job_name: str | None = None
    # A partition of the job: the run gets its partition tags and partitioned config.
    partition_key: str | None = None


@dataclass
class SkipReason:
    skip_message: str | None = None


@dataclass
class TickResult:
    """What evaluating a schedule or sensor gave: run requests, or why it skipped."""

    run_requests: list[RunRequest] = field(default_factory=list)
    skip_message: str | None = None
    cursor: str | None = None
    # Add/DeleteDynamicPartitionsRequest: the daemon applies them before the run requests.
    dynamic_partitions_requests: list[Any] = field(default_factory=list)


@dataclass
class SensorResult:
    """Dagster's sensor return value: run requests or a skip reason, the new cursor, and
    keys to add to or delete from dynamic partitions definitions."""

    run_requests: list[RunRequest] | None = None
    skip_reason: SkipReason | str | None = None
    cursor: str | None = None
    dynamic_partitions_requests: list[Any] | None = None


class ScheduleEvaluationContext:
    def __init__(self, scheduled_execution_time: dt.datetime | None = None, instance: Any = None):
        self.scheduled_execution_time = scheduled_execution_time or dt.datetime.now(dt.UTC)
        self.instance = instance


class SensorEvaluationContext:
    def __init__(
        self,
        cursor: str | None = None,
        instance: Any = None,
        last_run_key: str | None = None,
        last_tick_completion_time: float | None = None,
    ):
        self.cursor = cursor
        self.instance = instance
        self.last_run_key = last_run_key
        self.last_tick_completion_time = last_tick_completion_time

    def update_cursor(self, cursor: str | None) -> None:
        self.cursor = cursor


def build_schedule_context(
    instance: Any = None, scheduled_execution_time: dt.datetime | None = None
) -> ScheduleEvaluationContext:
    return ScheduleEvaluationContext(scheduled_execution_time, instance)


def build_sensor_context(
    instance: Any = None, cursor: str | None = None, last_run_key: str | None = None
) -> SensorEvaluationContext:
    return SensorEvaluationContext(cursor, instance, last_run_key)


def _collect(
    result: Any, default_config: Mapping[str, Any], default_tags: Mapping[str, str]
) -> TickResult:
    if result is None:
        return TickResult()
    if isinstance(result, SkipReason):
        return TickResult(skip_message=result.skip_message)
    if isinstance(result, SensorResult):
        skip = result.skip_reason
        return TickResult(
            list(result.run_requests or []),
            skip.skip_message if isinstance(skip, SkipReason) else skip,
            result.cursor,
            list(result.dynamic_partitions_requests or []),
        )
    if isinstance(result, RunRequest):
        return TickResult([result])
    if isinstance(result, Mapping):  # a schedule may return just the run config
        return TickResult([RunRequest(run_config=result, tags=dict(default_tags))])
    if isinstance(result, Iterable):
        tick = TickResult()
        for item in result:
            part = _collect(item, default_config, default_tags)
            tick.run_requests.extend(part.run_requests)
            tick.skip_message = tick.skip_message or part.skip_message
        return tick
    raise DefinitionError(
        f"a schedule or sensor returned {result!r}; expected RunRequest(s), SkipReason or a run config"
    )


def _resolve_partitions(tick: TickResult, job: Any, instance: Any) -> None:
    """A request for a partition gets the partition's run config and tags (its job's
    partitioned config), here in user code where the job is loaded; a request naming
    another job only gets the partition tags."""
    from opgraph.partitions.runs import PendingDynamicPartitions, needs_instance, partition_run
    from opgraph.partitions.tags import partition_tags

    stored = instance if hasattr(instance, "get_dynamic_partitions") else None
    store = PendingDynamicPartitions(stored, tick.dynamic_partitions_requests)
    for request in tick.run_requests:
        if request.partition_key is None:
            continue
        if job is not None and request.job_name in (None, job.name):
            # Without an instance, stored dynamic keys cannot be checked here (only the
            # ones this tick adds): the run is made, as the key's own request said.
            checkable = stored is not None or not needs_instance(job.partitions_def)
            request.run_config, request.tags = partition_run(
                job,
                request.partition_key,
                request.run_config,
                request.tags,
                store,
                validate=checkable,
            )
        else:
            request.tags = {**request.tags, **partition_tags(request.partition_key)}


def _store_of(context: Any) -> Any:
    instance = getattr(context, "instance", None)
    return instance if hasattr(instance, "get_dynamic_partitions") else None


def _job_name(job: Any, job_name: str | None) -> str:
    if job is not None:
        return job.name
    if job_name:
        return job_name
    raise DefinitionError("a schedule or sensor needs job= or job_name=")


class ScheduleDefinition:
    def __init__(
        self,
        name: str | None = None,
        *,
        cron_schedule: str,
        job: Any = None,
        job_name: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        execution_timezone: str | None = None,
        description: str | None = None,
        default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
        execution_fn: Callable[..., Any] | None = None,
    ):
        if not croniter.is_valid(cron_schedule):
            raise DefinitionError(
                f"schedule cron_schedule {cron_schedule!r} is not a valid cron string"
            )
        self.job = job
        self.job_name = _job_name(job, job_name)
        self.name = name or f"{self.job_name}_schedule"
        self.cron_schedule = cron_schedule
        self.run_config = dict(run_config or {})
        self.tags = dict(tags or {})
        self.execution_timezone = execution_timezone
        self.description = description
        self.default_status = default_status
        self._execution_fn = execution_fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Direct invocation, as Dagster's docs test schedules: returns what the function returns."""
        if self._execution_fn is None:
            return RunRequest(run_config=self.run_config, tags=self.tags)
        if not inspect.signature(self._execution_fn).parameters:
            return self._execution_fn()
        context = args[0] if args else kwargs.get("context") or build_schedule_context()
        return self._execution_fn(context)

    def evaluate_tick(self, context: ScheduleEvaluationContext) -> TickResult:
        from opgraph.partitions.definitions import dynamic_partitions_store

        with dynamic_partitions_store(_store_of(context)):
            result = _collect(self(context), self.run_config, self.tags)
            for request in result.run_requests:
                request.tags = {**self.tags, **request.tags}
                if not request.run_config and self.run_config:
                    request.run_config = dict(self.run_config)
            _resolve_partitions(result, self.job, context.instance)
        return result

    def next_tick_after(self, after: dt.datetime) -> dt.datetime:
        return croniter(self.cron_schedule, after).get_next(dt.datetime)


def schedule(
    cron_schedule: str,
    *,
    job: Any = None,
    job_name: str | None = None,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    execution_timezone: str | None = None,
    description: str | None = None,
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    def decorator(fn: Callable[..., Any]) -> ScheduleDefinition:
        return ScheduleDefinition(
            name=name or fn.__name__,
            cron_schedule=cron_schedule,
            job=job,
            job_name=job_name,
            tags=tags,
            execution_timezone=execution_timezone,
            description=description or inspect.getdoc(fn),
            default_status=default_status,
            execution_fn=fn,
        )

    return decorator


class SensorDefinition:
    def __init__(
        self,
        name: str,
        evaluation_fn: Callable[..., Any],
        *,
        job: Any = None,
        job_name: str | None = None,
        minimum_interval_seconds: int = 30,
        description: str | None = None,
        default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    ):
        self.name = name
        self.job = job
        self.job_name = _job_name(job, job_name)
        self.minimum_interval_seconds = minimum_interval_seconds
        self.description = description
        self.default_status = default_status
        self._evaluation_fn = evaluation_fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not inspect.signature(self._evaluation_fn).parameters:
            return self._evaluation_fn()
        context = args[0] if args else kwargs.get("context") or build_sensor_context()
        return self._evaluation_fn(context)

    def evaluate_tick(self, context: SensorEvaluationContext) -> TickResult:
        from opgraph.partitions.definitions import dynamic_partitions_store

        with dynamic_partitions_store(_store_of(context)):
            result = self(context)
            if inspect.isgenerator(result):
                result = list(result)
            tick = _collect(result, {}, {})
            _resolve_partitions(tick, self.job, context.instance)
        if tick.cursor is None:  # a SensorResult's cursor wins over context.update_cursor
            tick.cursor = context.cursor
        return tick


def sensor(
    job: Any = None,
    *,
    job_name: str | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    description: str | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> Callable[[Callable[..., Any]], SensorDefinition]:
    def decorator(fn: Callable[..., Any]) -> SensorDefinition:
        return SensorDefinition(
            name or fn.__name__,
            fn,
            job=job,
            job_name=job_name,
            minimum_interval_seconds=minimum_interval_seconds,
            description=description or inspect.getdoc(fn),
            default_status=default_status,
        )

    return decorator
