"""Mutations: launch, re-execute, terminate and delete runs.

Each first asks the context whether this request may change anything (read-only mode,
bearer token), then checks its arguments, and only then writes: a refused or invalid
request creates nothing.
"""

from __future__ import annotations

from typing import Any

import graphene

from opgraph.errors import RunConfigError, RunNotFound
from opgraph.ports import RunStatusError
from opgraph.reexecution import create_reexecution_run
from opgraph.run_lifecycle import delete_run, submit_or_fail
from opgraph.workspace.runs import create_location_run
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import (
    JOB_SELECTOR_ERRORS,
    check_id,
    check_step_key,
    job_location,
    op_selection_of,
    parse_run_config,
    tags_dict,
)
from opgraph_app.graphql.asset_launch import create_selected_asset_run
from opgraph_app.graphql.errors import Refused, check_mutation_allowed, typed_errors
from opgraph_app.graphql.instigator_schema import InstigatorMutations
from opgraph_app.graphql.types import ExecutionParams, ReexecutionStrategy, Run, TerminateRunPolicy
from opgraph_app.graphql.unions import or_error
from opgraph_app.run_views import SUMMARY_EVENT_TYPES
from opgraph_launchers.termination import TerminatePolicy, terminate_run
from opgraph_storage.records import FINISHED_STATUSES, RunStatus

MAX_TERMINATE_RUNS = 1000


class LaunchRunSuccess(graphene.ObjectType):
    run = graphene.Field(Run, required=True)


class TerminateRunSuccess(graphene.ObjectType):
    run = graphene.Field(Run, required=True)
    message = graphene.String(required=True)


class TerminateRunFailure(e.TypedError):
    """The run was found but its status did not move (e.g. it had finished)."""

    run = graphene.Field(Run, required=True)


class DeleteRunSuccess(graphene.ObjectType):
    run_id = graphene.String(required=True)


LaunchRunResult = or_error(
    "LaunchRunResult",
    LaunchRunSuccess,
    e.RunConfigValidationInvalid,
    *JOB_SELECTOR_ERRORS,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
LaunchRunReexecutionResult = or_error(
    "LaunchRunReexecutionResult",
    LaunchRunSuccess,
    e.RunNotFoundError,
    e.RunStatusError,
    e.InvalidStepError,
    e.InvalidArgumentError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
TerminateRunResult = or_error(
    "TerminateRunResult",
    TerminateRunSuccess,
    TerminateRunFailure,
    e.RunNotFoundError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)


class TerminateRunsSuccess(graphene.ObjectType):
    terminate_run_results = graphene.List(graphene.NonNull(TerminateRunResult), required=True)


TerminateRunsResult = or_error(
    "TerminateRunsResult",
    TerminateRunsSuccess,
    e.InvalidArgumentError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
DeleteRunResult = or_error(
    "DeleteRunResult",
    DeleteRunSuccess,
    e.RunNotFoundError,
    e.RunStatusError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)


def _terminate_one(info: Any, run_id: str, policy: Any) -> Any:
    instance = info.context.instance
    try:
        outcome = terminate_run(instance, run_id, TerminatePolicy(getattr(policy, "value", policy)))
    except RunNotFound:
        return e.RunNotFoundError(message=f"no run with id {run_id!r}", run_id=run_id)
    run = instance.get_run(run_id)
    if outcome.moved:
        return TerminateRunSuccess(run=run, message=outcome.message)
    return TerminateRunFailure(run=run, message=outcome.message)


class LaunchRun(graphene.Mutation):
    """Validate the run config with the job's code location, create the run, submit it."""

    class Arguments:
        execution_params = ExecutionParams(required=True)

    Output = LaunchRunResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, execution_params: Any) -> Any:
        check_mutation_allowed(info)
        selector = execution_params.selector
        run_config = parse_run_config(
            execution_params.get("run_config_data"), info.context.limits.run_config
        )
        metadata = execution_params.get("execution_metadata") or {}
        tags = tags_dict(
            metadata.get("tags"), "executionParams.executionMetadata.tags", to_set=True
        )
        location = job_location(info.context.workspace, selector)
        op_selection = op_selection_of(selector)  # refused beside an asset selection
        try:
            if selector.get("asset_selection") is not None:
                run = create_selected_asset_run(
                    info.context.instance,
                    location,
                    selector.job_name,
                    selector.asset_selection,
                    selector.get("asset_check_selection"),
                    run_config,
                    tags,
                )
            else:
                run = create_location_run(
                    info.context.instance,
                    location,
                    selector.job_name,
                    run_config,
                    tags,
                    op_selection,
                )
        except RunConfigError as exc:
            return e.config_errors(selector.job_name, exc.errors)
        return LaunchRunSuccess(run=submit_or_fail(info.context.instance, run))


class LaunchRunReexecution(graphene.Mutation):
    """A new run of a finished run's job: all steps, from failure, or selected steps."""

    class Arguments:
        parent_run_id = graphene.String(required=True)
        strategy = ReexecutionStrategy(required=True)
        step_keys = graphene.List(graphene.NonNull(graphene.String))

    Output = LaunchRunReexecutionResult

    @staticmethod
    @typed_errors
    def mutate(
        _root: Any, info: Any, parent_run_id: str, strategy: Any, step_keys: Any = None
    ) -> Any:
        check_mutation_allowed(info)
        instance = info.context.instance
        strategy = getattr(strategy, "value", strategy)
        check_id("parentRunId", parent_run_id)
        for step_key in step_keys or []:
            check_step_key(step_key)
        parent = instance.storage.get_run(parent_run_id)
        if parent is None:
            return e.RunNotFoundError(
                message=f"no run with id {parent_run_id!r}", run_id=parent_run_id
            )
        if parent.status not in FINISHED_STATUSES:
            return e.RunStatusError(
                message=f"run {parent_run_id} is {parent.status.value}; "
                "only finished runs can be re-executed",
                run_id=parent_run_id,
                status=parent.status.value,
            )
        if strategy == "FROM_FAILURE" and parent.status is RunStatus.SUCCESS:
            return e.RunStatusError(
                message=f"run {parent_run_id} succeeded: there is no failure to re-execute "
                "from; use ALL_STEPS or SELECTED",
                run_id=parent_run_id,
                status=parent.status.value,
            )
        if strategy == "SELECTED":
            _check_step_keys(info, parent, step_keys)
        elif step_keys:
            raise Refused(
                e.InvalidArgumentError(
                    message="stepKeys are only used with strategy SELECTED",
                    argument="stepKeys",
                    given=", ".join(step_keys),
                    expected="no step keys, or strategy SELECTED",
                )
            )
        child = create_reexecution_run(instance, parent_run_id, strategy, step_keys)
        return LaunchRunSuccess(run=submit_or_fail(instance, child))


def _check_step_keys(info: Any, parent: Any, step_keys: list[str] | None) -> None:
    if not step_keys:
        raise Refused(
            e.InvalidArgumentError(
                message="strategy SELECTED needs at least one step key",
                argument="stepKeys",
                given="[]",
                expected="one or more step keys of the job",
            )
        )
    # Known handles: from the job's snapshot when its location is at hand, else from the
    # steps the parent run logged. A mapped step `op[key]` is checked by its op handle.
    handles: set[str] = set()
    workspace = info.context.workspace
    if workspace is not None and parent.location_name in workspace.location_names():
        try:
            job = workspace.get(parent.location_name).job(parent.job_name)
            handles = {op.handle for op in job.ops}
        except Exception:  # a location that cannot answer: fall back to the event log
            handles = set()
    if not handles:
        storage = info.context.instance.storage
        events = storage.get_events(parent.run_id, event_types=SUMMARY_EVENT_TYPES)
        handles = {ev.step_key.split("[", 1)[0] for ev in events if ev.step_key}
    unknown = sorted(key for key in step_keys if key.split("[", 1)[0] not in handles)
    if unknown:
        raise Refused(
            e.InvalidStepError(
                message=f"steps {unknown} are not in job {parent.job_name!r}",
                invalid_step_keys=unknown,
            )
        )


class TerminateRun(graphene.Mutation):
    class Arguments:
        run_id = graphene.String(required=True)
        policy = TerminateRunPolicy(default_value="SAFE")

    Output = TerminateRunResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, run_id: str, policy: Any = "SAFE") -> Any:
        check_mutation_allowed(info)
        return _terminate_one(info, run_id, policy)


class TerminateRuns(graphene.Mutation):
    class Arguments:
        run_ids = graphene.List(graphene.NonNull(graphene.String), required=True)
        policy = TerminateRunPolicy(default_value="SAFE")

    Output = TerminateRunsResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, run_ids: list[str], policy: Any = "SAFE") -> Any:
        check_mutation_allowed(info)
        if len(run_ids) > MAX_TERMINATE_RUNS:
            return e.InvalidArgumentError(
                message=f"runIds: at most {MAX_TERMINATE_RUNS} runs at once, given {len(run_ids)}",
                argument="runIds",
                given=str(len(run_ids)),
                expected=f"1 to {MAX_TERMINATE_RUNS} run ids",
            )
        results = [typed_errors(_terminate_one)(info, run_id, policy) for run_id in run_ids]
        return TerminateRunsSuccess(terminate_run_results=results)


class DeleteRun(graphene.Mutation):
    """Delete a finished run with its events and captured logs."""

    class Arguments:
        run_id = graphene.String(required=True)

    Output = DeleteRunResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, run_id: str) -> Any:
        check_mutation_allowed(info)
        instance = info.context.instance
        try:
            delete_run(instance, run_id)
        except RunNotFound:
            return e.RunNotFoundError(message=f"no run with id {run_id!r}", run_id=run_id)
        except RunStatusError as exc:
            status = instance.get_run(run_id).status.value
            return e.RunStatusError(message=str(exc), run_id=run_id, status=status)
        return DeleteRunSuccess(run_id=run_id)


class Mutation(InstigatorMutations, graphene.ObjectType):
    launch_run = LaunchRun.Field(required=True)
    launch_run_reexecution = LaunchRunReexecution.Field(required=True)
    terminate_run = TerminateRun.Field(required=True)
    terminate_runs = TerminateRuns.Field(required=True)
    delete_run = DeleteRun.Field(required=True)
