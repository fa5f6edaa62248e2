"""The root Query: runs, events, captured logs, the workspace and the instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from opgraph.errors import RunConfigError
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import (
    JOB_SELECTOR_ERRORS,
    check_id,
    check_limit,
    check_offset,
    check_step_key,
    job_location,
    op_selection_of,
    parse_event_cursor,
    parse_run_config,
    require_workspace,
    runs_filter,
)
from opgraph_app.graphql.combined_logs import CombinedLogsQueries
from opgraph_app.graphql.errors import typed_errors
from opgraph_app.graphql.fleet_types import Queues, Workers, fleet_queues, fleet_workers
from opgraph_app.graphql.instance_types import Instance
from opgraph_app.graphql.instigator_schema import InstigatorQueries
from opgraph_app.graphql.types import (
    CapturedLogs,
    EventConnection,
    EventsPage,
    JobSelector,
    LogChunk,
    Run,
    Runs,
    RunsFilter,
    RunsPage,
)
from opgraph_app.graphql.unions import or_error
from opgraph_app.graphql.workspace_types import ExecutionPlan, Workspace, execution_plan

MAX_RUNS_PAGE = 1000
# A page the UI renders at once; larger pages cost ~40 us per event in GraphQL alone.
DEFAULT_EVENTS_PAGE = 500
MAX_EVENTS_PAGE = 10_000
MAX_LOG_BYTES = 4 * 1024 * 1024


RunOrError = or_error("RunOrError", Run, e.RunNotFoundError, e.PythonError)
RunsOrError = or_error(
    "RunsOrError", Runs, e.InvalidArgumentError, e.InvalidCursorError, e.PythonError
)
EventConnectionOrError = or_error(
    "EventConnectionOrError",
    EventConnection,
    e.RunNotFoundError,
    e.InvalidArgumentError,
    e.InvalidCursorError,
    e.PythonError,
)
CapturedLogsOrError = or_error(
    "CapturedLogsOrError", CapturedLogs, e.RunNotFoundError, e.InvalidArgumentError, e.PythonError
)
WorkersOrError = or_error("WorkersOrError", Workers, e.PythonError)
QueuesOrError = or_error("QueuesOrError", Queues, e.PythonError)
WorkspaceOrError = or_error(
    "WorkspaceOrError", Workspace, e.WorkspaceNotConfiguredError, e.PythonError
)


class RunConfigValid(graphene.ObjectType):
    job_name = graphene.String(required=True)


RunConfigValidationResult = or_error(
    "RunConfigValidationResult",
    RunConfigValid,
    e.RunConfigValidationInvalid,
    *JOB_SELECTOR_ERRORS,
    e.PythonError,
)
ExecutionPlanOrError = or_error(
    "ExecutionPlanOrError",
    ExecutionPlan,
    e.RunConfigValidationInvalid,
    *JOB_SELECTOR_ERRORS,
    e.PythonError,
)


class Query(InstigatorQueries, CombinedLogsQueries, graphene.ObjectType):
    runs_or_error = graphene.Field(
        RunsOrError,
        required=True,
        filter=graphene.Argument(RunsFilter),
        cursor=graphene.String(description="runId of the last run of the previous page"),
        limit=graphene.Int(default_value=50, description=f"1 to {MAX_RUNS_PAGE}"),
        description="Runs, newest first.",
    )
    run_or_error = graphene.Field(RunOrError, required=True, run_id=graphene.String(required=True))
    logs_for_run = graphene.Field(
        EventConnectionOrError,
        required=True,
        run_id=graphene.String(required=True),
        after_cursor=graphene.String(description="cursor of the last event already read"),
        limit=graphene.Int(
            default_value=DEFAULT_EVENTS_PAGE, description=f"1 to {MAX_EVENTS_PAGE}"
        ),
        description="A run's events in the order they were stored.",
    )
    captured_logs = graphene.Field(
        CapturedLogsOrError,
        required=True,
        run_id=graphene.String(required=True),
        step_key=graphene.String(required=True),
        stdout_cursor=graphene.Int(default_value=0),
        stderr_cursor=graphene.Int(default_value=0),
        max_bytes=graphene.Int(default_value=1024 * 1024, description=f"1 to {MAX_LOG_BYTES}"),
        description="A step's captured stdout and stderr, from byte offsets on.",
    )
    workspace_or_error = graphene.Field(WorkspaceOrError, required=True)
    is_run_config_valid = graphene.Field(
        RunConfigValidationResult,
        required=True,
        selector=graphene.Argument(JobSelector, required=True),
        run_config_data=GenericScalar(),
    )
    execution_plan_or_error = graphene.Field(
        ExecutionPlanOrError,
        required=True,
        selector=graphene.Argument(JobSelector, required=True),
        run_config_data=GenericScalar(),
    )
    instance = graphene.Field(Instance, required=True)
    workers_or_error = graphene.Field(
        WorkersOrError, required=True, description="Celery workers (waits up to 1 s for them)."
    )
    queues_or_error = graphene.Field(
        QueuesOrError, required=True, description="Celery queues, their depth and consumers."
    )

    @staticmethod
    @typed_errors
    def resolve_workers_or_error(_root: Any, info: Any) -> Any:
        return fleet_workers(info.context)

    @staticmethod
    @typed_errors
    def resolve_queues_or_error(_root: Any, info: Any) -> Any:
        return fleet_queues(info.context)

    @staticmethod
    @typed_errors
    def resolve_runs_or_error(
        _root: Any, info: Any, filter: Any = None, cursor: str | None = None, limit: int = 50
    ) -> Any:
        storage = info.context.instance.storage
        check_limit("limit", limit, MAX_RUNS_PAGE)
        filters = runs_filter(filter, info.context.limits.max_tag_filters)
        if cursor is not None:
            check_id("cursor", cursor)
        if cursor is not None and storage.get_run(cursor) is None:
            return e.InvalidCursorError(
                message=f"cursor {cursor!r} is not the id of a run (was it deleted?); "
                "start again without a cursor",
                cursor=cursor,
            )
        found = storage.get_runs(filters, cursor=cursor, limit=limit + 1)
        return RunsPage(found[:limit], filters, has_more=len(found) > limit)

    @staticmethod
    @typed_errors
    def resolve_run_or_error(_root: Any, info: Any, run_id: str) -> Any:
        check_id("runId", run_id)
        run = info.context.instance.storage.get_run(run_id)
        return run or _run_not_found(run_id)

    @staticmethod
    @typed_errors
    def resolve_logs_for_run(
        _root: Any,
        info: Any,
        run_id: str,
        after_cursor: str | None = None,
        limit: int = DEFAULT_EVENTS_PAGE,
    ) -> Any:
        storage = info.context.instance.storage
        check_id("runId", run_id)
        check_limit("limit", limit, MAX_EVENTS_PAGE)
        after_id = parse_event_cursor(after_cursor)
        events = storage.get_events(run_id, after_id=after_id, limit=limit + 1)
        if not events and storage.get_run(run_id) is None:
            return _run_not_found(run_id)
        page = events[:limit]
        cursor = str(page[-1].storage_id) if page else after_cursor
        return EventsPage(page, cursor, has_more=len(events) > limit)

    @staticmethod
    @typed_errors
    def resolve_captured_logs(
        _root: Any,
        info: Any,
        run_id: str,
        step_key: str,
        stdout_cursor: int = 0,
        stderr_cursor: int = 0,
        max_bytes: int = 1024 * 1024,
    ) -> Any:
        instance = info.context.instance
        check_limit("maxBytes", max_bytes, MAX_LOG_BYTES)
        check_offset("stdoutCursor", stdout_cursor)
        check_offset("stderrCursor", stderr_cursor)
        check_step_key(step_key)
        check_id("runId", run_id)
        run = instance.storage.get_run(run_id)
        if run is None:
            return _run_not_found(run_id)
        run_dir = instance.compute_logs_dir / run.run_id
        stdout = _read_chunk(info.context, run_dir / f"{step_key}.out", stdout_cursor, max_bytes)
        stderr = _read_chunk(info.context, run_dir / f"{step_key}.err", stderr_cursor, max_bytes)
        return CapturedLogs(run_id=run.run_id, step_key=step_key, stdout=stdout, stderr=stderr)

    @staticmethod
    @typed_errors
    def resolve_workspace_or_error(_root: Any, info: Any) -> Any:
        return require_workspace(info.context.workspace)

    @staticmethod
    @typed_errors
    def resolve_is_run_config_valid(
        _root: Any, info: Any, selector: Any, run_config_data: Any = None
    ) -> Any:
        run_config = parse_run_config(run_config_data, info.context.limits.run_config)
        location = job_location(info.context.workspace, selector)
        problems = location.validate_run_config(
            selector.job_name, run_config, op_selection_of(selector)
        )
        if problems:
            return e.config_errors(selector.job_name, problems)
        return RunConfigValid(job_name=selector.job_name)

    @staticmethod
    @typed_errors
    def resolve_execution_plan_or_error(
        _root: Any, info: Any, selector: Any, run_config_data: Any = None
    ) -> Any:
        run_config = parse_run_config(run_config_data, info.context.limits.run_config)
        location = job_location(info.context.workspace, selector)
        try:
            snapshot = location.execution_plan(selector.job_name, run_config)
        except RunConfigError as exc:
            return e.config_errors(selector.job_name, exc.errors)
        return execution_plan(snapshot)

    @staticmethod
    def resolve_instance(_root: Any, info: Any) -> Any:
        return info.context.instance


def _run_not_found(run_id: str) -> Any:
    return e.RunNotFoundError(message=f"no run with id {run_id!r}", run_id=run_id)


def _read_chunk(context: Any, path: Path, offset: int, max_bytes: int) -> LogChunk:
    """Up to max_bytes from offset; a partial last line waits for the next read."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            file.seek(min(offset, size))
            context.charge_answer_bytes(min(max_bytes, size - min(offset, size)))
            data = file.read(max_bytes)
    except FileNotFoundError:  # the step printed nothing (yet)
        return LogChunk(data="", cursor=offset, has_more=False)
    start = min(offset, size)
    end = start + len(data)
    if end < size and b"\n" in data:  # cut at a line end: no half characters or lines
        data = data[: data.rindex(b"\n") + 1]
        end = start + len(data)
    return LogChunk(data=data.decode("utf-8", errors="replace"), cursor=end, has_more=end < size)
