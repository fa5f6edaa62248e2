"""`build_schedule_from_partitioned_job`: a schedule that runs a job's partitions as
their time comes (Dagster's function and semantics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.assets.job import UnresolvedAssetJobDefinition
from opgraph.errors import DefinitionError
from opgraph.partitions.definitions import (
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
)
from opgraph.partitions.time_window import TimeWindowPartitionsDefinition
from opgraph.schedules import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)


def _time_dimension(
    partitions_def: PartitionsDefinition,
) -> tuple[str | None, TimeWindowPartitionsDefinition] | None:
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return None, partitions_def
    if isinstance(partitions_def, MultiPartitionsDefinition):
        found = [
            (d.name, d.partitions_def)
            for d in partitions_def.partitions_defs
            if isinstance(d.partitions_def, TimeWindowPartitionsDefinition)
        ]
        if len(found) == 1:
            name, time_def = found[0]
            assert isinstance(time_def, TimeWindowPartitionsDefinition)
            return name, time_def
    return None


def build_schedule_from_partitioned_job(
    job: Any,
    description: str | None = None,
    name: str | None = None,
    minute_of_hour: int | None = None,
    hour_of_day: int | None = None,
    day_of_week: int | None = None,
    day_of_month: int | None = None,
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
    tags: Mapping[str, str] | None = None,
    cron_schedule: str | None = None,
    execution_timezone: str | None = None,
) -> Any:
    """Time partitions: at each tick of the partitions' cadence (optionally at another
    minute/hour/day), a run of the newest partition that has ended (its key is the run
    key). Static partitions: a run of every partition at each tick of `cron_schedule`.
    An asset job whose partitions come from its assets gives a schedule that Definitions
    builds once it has compiled the job."""
    partitions_def = getattr(job, "partitions_def", None)
    if partitions_def is None and isinstance(job, UnresolvedAssetJobDefinition):
        arguments = dict(locals())
        del arguments["job"], arguments["partitions_def"]
        return UnresolvedPartitionedAssetScheduleDefinition(job, arguments)
    if partitions_def is None:
        raise DefinitionError(
            f"build_schedule_from_partitioned_job: job {getattr(job, 'name', job)!r} is not "
            "partitioned (give it partitions_def= or a partitioned config)"
        )
    time_dimension = _time_dimension(partitions_def)
    if time_dimension is not None:
        if cron_schedule or execution_timezone:
            raise DefinitionError(
                "build_schedule_from_partitioned_job: a time-partitioned job's schedule follows "
                "its partitions; cron_schedule and execution_timezone cannot be given (use "
                "minute_of_hour, hour_of_day, day_of_week, day_of_month)"
            )
        time_def = time_dimension[1]
        cron_schedule = time_def.get_cron_schedule(
            minute_of_hour, hour_of_day, day_of_week, day_of_month
        )
        execution_timezone = time_def.timezone
    elif isinstance(partitions_def, StaticPartitionsDefinition):
        if not cron_schedule:
            raise DefinitionError(
                "build_schedule_from_partitioned_job: a job with static partitions needs "
                "cron_schedule= (when to run every partition)"
            )
    else:
        raise DefinitionError(
            "build_schedule_from_partitioned_job takes a job partitioned by time windows, by "
            "static keys, or by a multi-partitions definition with one time dimension; "
            f"job {job.name!r} has {partitions_def}"
        )
    extra_tags = dict(tags or {})

    def evaluate(context: ScheduleEvaluationContext) -> Any:
        now = context.scheduled_execution_time
        if time_dimension is None:
            return [
                RunRequest(run_key=key, tags=dict(extra_tags), partition_key=key)
                for key in partitions_def.get_partition_keys(current_time=now)
            ]
        dimension, time_def = time_dimension
        key = time_def.get_last_partition_key(current_time=now)
        if key is None:
            return SkipReason("the job's partitions definition has no partition that has ended yet")
        if dimension is None:
            return RunRequest(run_key=key, tags=dict(extra_tags), partition_key=key)
        assert isinstance(partitions_def, MultiPartitionsDefinition)
        store = getattr(context, "instance", None)
        keys = partitions_def.get_partition_keys(
            current_time=now,
            dynamic_partitions_store=store if hasattr(store, "get_dynamic_partitions") else None,
        )
        return [
            RunRequest(run_key=k, tags=dict(extra_tags), partition_key=k)
            for k in keys
            if getattr(k, "keys_by_dimension", {}).get(dimension) == key
        ]

    return ScheduleDefinition(
        name=name or f"{job.name}_schedule",
        cron_schedule=cron_schedule,
        job=job,
        execution_timezone=execution_timezone,
        description=description,
        default_status=default_status,
        execution_fn=evaluate,
    )


class UnresolvedPartitionedAssetScheduleDefinition:
    """The schedule of an asset job whose partitions definition is its selected assets'
    (Dagster's name): Definitions compiles the job, then builds the schedule for it."""

    def __init__(self, job: UnresolvedAssetJobDefinition, arguments: Mapping[str, Any]):
        self.job = job
        self.job_name = job.name
        self._arguments = dict(arguments)
        self.name = self._arguments.get("name") or f"{job.name}_schedule"

    def resolve(self, resolved_job: Any) -> ScheduleDefinition:
        return build_schedule_from_partitioned_job(resolved_job, **self._arguments)  # type: ignore[no-any-return]
