"""Runs, their steps, events and captured logs as GraphQL types.

Resolvers read plain records (`RunRecord`, `EventRecord`, `StepSummary`); step stats are
derived from the run's events (events are the truth), loaded once per run per request.
Times are float seconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import graphene
import yaml
from graphene.types.generic import GenericScalar

from opgraph.ports import RUN_WORKER_HOST_TAG
from opgraph_app.graphql.asset_types import AssetCheckHandleInput, AssetKeyInput
from opgraph_app.run_views import SUMMARY_EVENT_TYPES, StepSummary, step_summaries
from opgraph_storage.records import (
    LIVE_STATUSES,
    EventRecord,
    RunRecord,
    StepAttempt,
    StepAttemptStatus,
)
from opgraph_storage.records import RunsFilter as RunsFilterValue
from opgraph_storage.records import RunStatus as RunStatusValue

RunStatus = graphene.Enum.from_enum(RunStatusValue, description="Where a run is in its life.")


class ReexecutionStrategy(graphene.Enum):
    FROM_FAILURE = "FROM_FAILURE"  # failed and not-run steps, and everything downstream
    ALL_STEPS = "ALL_STEPS"
    SELECTED = "SELECTED"  # the given step keys and everything downstream


class TerminateRunPolicy(graphene.Enum):
    SAFE = "SAFE"  # ask the run worker to stop at its next step boundary
    FORCE = "FORCE"  # also kill the run worker and mark the run CANCELED at once


# -- inputs ----------------------------------------------------------------------------------
class TagInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    value = graphene.String(required=True)


class RunsFilter(graphene.InputObjectType):
    run_ids = graphene.List(graphene.NonNull(graphene.String))
    job_name = graphene.String()
    statuses = graphene.List(graphene.NonNull(RunStatus))
    tags = graphene.List(graphene.NonNull(TagInput))
    created_before = graphene.Float(description="Seconds since the epoch.")
    created_after = graphene.Float(description="Seconds since the epoch.")


class JobSelector(graphene.InputObjectType):
    location_name = graphene.String(required=True)
    job_name = graphene.String(required=True)
    # Dagster's selector fields: materialize only these assets of an asset job (and run
    # these checks; without assetCheckSelection, the selected assets' checks).
    asset_selection = graphene.List(graphene.NonNull(AssetKeyInput))
    asset_check_selection = graphene.List(graphene.NonNull(AssetCheckHandleInput))
    op_selection = graphene.List(
        graphene.NonNull(graphene.String),
        description="Run only these ops: clauses such as `emit`, `*report`, `double+` "
        "(Dagster's solidSelection); validation and launch both take it.",
    )


class ExecutionMetadata(graphene.InputObjectType):
    tags = graphene.List(graphene.NonNull(TagInput))


class ExecutionParams(graphene.InputObjectType):
    selector = graphene.Field(JobSelector, required=True)
    run_config_data = GenericScalar(description="A mapping, or YAML text of one.")
    execution_metadata = graphene.Field(ExecutionMetadata)


# -- runs ------------------------------------------------------------------------------------
class Tag(graphene.ObjectType):
    key = graphene.String(required=True)
    value = graphene.String(required=True)


class TagPair(NamedTuple):
    """What a `Tag` field resolves to where there are many (its fields read the same)."""

    key: str
    value: str


class StepStats(graphene.ObjectType):
    """One step of a run, derived from its events."""

    step_key = graphene.String(required=True)
    status = graphene.String(
        required=True, description="PENDING, STARTED, UP_FOR_RETRY, SUCCESS, FAILURE, SKIPPED"
    )
    attempts = graphene.Int(required=True)
    start_time = graphene.Float()
    end_time = graphene.Float()
    worker = graphene.String(description="Host or Celery worker of the latest attempt.")

    @staticmethod
    def resolve_start_time(root: StepSummary, _info: Any) -> float | None:
        return root.started_at

    @staticmethod
    def resolve_end_time(root: StepSummary, _info: Any) -> float | None:
        return root.ended_at


class LiveStepAttempt(graphene.ObjectType):
    """A step's attempt on a remote executor (the Celery one) that has not ended: QUEUED
    while its message waits on a broker queue for a worker, RUNNING once a worker claimed
    it. Read from the step attempt table, not the event log: no event marks a step queued."""

    step_key = graphene.String(required=True)
    attempt_number = graphene.Int(
        required=True, description="0 for a step's first try, as events' `attempt`."
    )
    status = graphene.String(required=True, description="QUEUED or RUNNING")
    queue = graphene.String(description="The broker queue the attempt was sent to.")
    queued_at = graphene.Float(required=True)
    started_at = graphene.Float(description="When a worker claimed it; null while QUEUED.")
    worker = graphene.String(description="Host of the worker that claimed it.")

    @staticmethod
    def resolve_status(root: StepAttempt, _info: Any) -> str:
        return root.status.value

    @staticmethod
    def resolve_worker(root: StepAttempt, _info: Any) -> str | None:
        return root.hostname


LIVE_ATTEMPT_STATUSES = (StepAttemptStatus.QUEUED, StepAttemptStatus.RUNNING)


def run_events(info: Any, run_id: str, event_types: list[str]) -> list[EventRecord]:
    """A run's events of these types, read once per request however many fields need them
    (never all of them: a run may have 1,000,000 events, mostly logs)."""
    cache = info.context.cache.setdefault("events", {})
    key = (run_id, tuple(event_types))
    if key not in cache:
        storage = info.context.instance.storage
        cache[key] = storage.get_events(run_id, event_types=event_types)
    return cache[key]


class Run(graphene.ObjectType):
    run_id = graphene.String(required=True)
    job_name = graphene.String(required=True)
    status = graphene.Field(RunStatus, required=True)
    run_config = GenericScalar(required=True)
    run_config_yaml = graphene.String(required=True)
    tags = graphene.List(graphene.NonNull(Tag), required=True)
    parent_run_id = graphene.String()
    root_run_id = graphene.String()
    location_name = graphene.String()
    code_version = graphene.String()
    created_at = graphene.Float(required=True)
    start_time = graphene.Float()
    end_time = graphene.Float()
    updated_at = graphene.Float(required=True)
    worker_heartbeat_at = graphene.Float()
    run_worker_host = graphene.String()
    can_terminate = graphene.Boolean(required=True)
    step_stats = graphene.List(graphene.NonNull(StepStats), required=True)
    live_step_attempts = graphene.List(
        graphene.NonNull(LiveStepAttempt),
        required=True,
        description="The run's step attempts still QUEUED or RUNNING, oldest first (one "
        "indexed read by run id and status); empty on executors without attempts.",
    )
    failure_message = graphene.String(
        description="Why the run failed (its RUN_FAILURE event's message); null unless FAILURE."
    )

    @staticmethod
    def resolve_run_config_yaml(root: RunRecord, _info: Any) -> str:
        return yaml.safe_dump(root.run_config, sort_keys=False) if root.run_config else ""

    @staticmethod
    def resolve_tags(root: RunRecord, _info: Any) -> list[TagPair]:
        # A plain pair, not a graphene Tag: a page of runs has hundreds of them.
        return [TagPair(k, v) for k, v in sorted(root.tags.items())]

    @staticmethod
    def resolve_start_time(root: RunRecord, _info: Any) -> float | None:
        return root.started_at

    @staticmethod
    def resolve_end_time(root: RunRecord, _info: Any) -> float | None:
        return root.ended_at

    @staticmethod
    def resolve_run_worker_host(root: RunRecord, _info: Any) -> str | None:
        return root.tags.get(RUN_WORKER_HOST_TAG)

    @staticmethod
    def resolve_can_terminate(root: RunRecord, _info: Any) -> bool:
        return root.status in LIVE_STATUSES

    @staticmethod
    def resolve_step_stats(root: RunRecord, info: Any) -> list[StepSummary]:
        events = run_events(info, root.run_id, SUMMARY_EVENT_TYPES)
        return step_summaries(events, default_worker=root.tags.get(RUN_WORKER_HOST_TAG))

    @staticmethod
    def resolve_live_step_attempts(root: RunRecord, info: Any) -> list[StepAttempt]:
        storage = info.context.instance.storage
        return storage.get_step_attempts(run_id=root.run_id, statuses=LIVE_ATTEMPT_STATUSES)

    @staticmethod
    def resolve_failure_message(root: RunRecord, info: Any) -> str | None:
        if root.status is not RunStatusValue.FAILURE:
            return None
        failures = [
            event.message
            for event in run_events(info, root.run_id, SUMMARY_EVENT_TYPES)
            if event.event_type == "RUN_FAILURE" and event.step_key is None
        ]
        return failures[-1] if failures else None


@dataclass(frozen=True)
class RunsPage:
    results: list[RunRecord]
    filters: RunsFilterValue
    has_more: bool


class Runs(graphene.ObjectType):
    """A page of runs, newest first; pass `cursor` back to get the next page."""

    results = graphene.List(graphene.NonNull(Run), required=True)
    cursor = graphene.String(description="Id of the last run on this page.")
    has_more = graphene.Boolean(required=True)
    count = graphene.Int(required=True, description="Runs matching the filter, all pages.")

    @staticmethod
    def resolve_cursor(root: RunsPage, _info: Any) -> str | None:
        return root.results[-1].run_id if root.results else None

    @staticmethod
    def resolve_count(root: RunsPage, info: Any) -> int:
        return info.context.instance.storage.get_runs_count(root.filters)


# -- events ----------------------------------------------------------------------------------
class Event(graphene.ObjectType):
    cursor = graphene.String(required=True, description="Pass as afterCursor to read on.")
    event_type = graphene.String(required=True)
    timestamp = graphene.Float(required=True)
    step_key = graphene.String()
    attempt = graphene.Int()
    level = graphene.String(required=True)
    message = graphene.String(required=True)
    data = GenericScalar(required=True)

    @staticmethod
    def resolve_cursor(root: EventRecord, _info: Any) -> str:
        return str(root.storage_id)


@dataclass(frozen=True)
class EventsPage:
    events: list[EventRecord]
    cursor: str | None
    has_more: bool


class EventConnection(graphene.ObjectType):
    events = graphene.List(graphene.NonNull(Event), required=True)
    cursor = graphene.String(description="Cursor of the last event; null if there is none.")
    has_more = graphene.Boolean(required=True)


# -- captured logs ---------------------------------------------------------------------------
class LogChunk(graphene.ObjectType):
    data = graphene.String(required=True)
    cursor = graphene.Int(required=True, description="Byte offset to read on from.")
    has_more = graphene.Boolean(required=True)


class CapturedLogs(graphene.ObjectType):
    run_id = graphene.String(required=True)
    step_key = graphene.String(required=True)
    stdout = graphene.Field(LogChunk, required=True)
    stderr = graphene.Field(LogChunk, required=True)
