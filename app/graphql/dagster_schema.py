"""Dagster's GraphQL API, the part `dagster_graphql.DagsterGraphQLClient` sends.

A separate graphene schema served on the same `/graphql`: a request goes to it when its
operation is one the Dagster client names (`GraphQLClient...`) or when it asks for a root
field only this schema has (`launchPipelineExecution`, `pipelineRunOrError`,
`repositoriesOrError`, `reloadRepositoryLocation`, `shutdownRepositoryLocation`...).
Everything else, the UI's queries included, goes to opgraph's own schema.

Mapping (docs/graphql.md): a code location is a Dagster repository location holding one
repository, `__repository__`; a job is both a `pipeline` and a `job` of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import graphene
from graphql import DocumentNode, FieldNode, GraphQLSchema, OperationDefinitionNode

from opgraph.errors import OpgraphError, RunConfigError, RunNotFound
from opgraph.run_lifecycle import submit_or_fail
from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    DefinitionNotFound,
    LocationState,
)
from opgraph.workspace.runs import create_location_run
from opgraph_app.graphql import dagster_types as t
from opgraph_app.graphql.arguments import parse_run_config, tags_dict
from opgraph_app.graphql.asset_launch import create_selected_asset_run
from opgraph_app.graphql.errors import Refused, unexpected_error_message
from opgraph_launchers.termination import TerminatePolicy, terminate_run

F = TypeVar("F", bound=Callable[..., Any])


def _python_errors(fn: F) -> F:
    """Exceptions become Dagster's PythonError: a refusal or an opgraph error with its
    message; anything unexpected with its class and an error id only (its text may hold
    SQL, parameters or paths; the traceback goes to the server log under that id)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Refused as exc:
            return t.PythonError(message=exc.error.message, class_name=type(exc.error).__name__)
        except OpgraphError as exc:
            return t.PythonError(message=str(exc), class_name=type(exc).__name__)
        except Exception as exc:
            message = unexpected_error_message(exc)
            return t.PythonError(message=message, class_name=type(exc).__name__)

    return wrapper  # type: ignore[return-value]


def _refusal(info: Any) -> Any:
    refusal = info.context.mutation_refusal()  # read-only mode, or no/wrong bearer token
    return None if refusal is None else t.UnauthorizedError(message=refusal.message)


def _workspace(info: Any) -> Any:
    workspace = info.context.workspace
    if workspace is None:
        raise CodeLocationError("this webserver has no workspace (no workspace.yaml was found)")
    return workspace


# -- repositories ------------------------------------------------------------------------------
def _location(location: CodeLocation) -> t.RepositoryLocation:
    """The code location as a repository location with its one repository."""
    entry = t.RepositoryLocation(id=location.name, name=location.name, is_reload_supported=True)
    names = location.job_names()
    entry.repositories = [
        t.Repository(
            id=f"{location.name}:{t.DEFAULT_REPOSITORY_NAME}",
            name=t.DEFAULT_REPOSITORY_NAME,
            location=entry,
            pipelines=[t.Pipeline(name=n) for n in names],
            jobs=[t.Job(name=n) for n in names],
        )
    ]
    return entry


class RepositoriesOrError(graphene.Union):
    class Meta:
        types = (t.RepositoryConnection, t.PythonError)


class RepositoryLocationsOrError(graphene.Union):
    class Meta:
        types = (t.RepositoryLocationConnection, t.PythonError)


class RunOrError(graphene.Union):
    class Meta:
        types = (t.Run, t.RunNotFoundError, t.PythonError)


class PipelineRunOrError(graphene.Union):
    class Meta:
        types = (t.PipelineRun, t.PipelineRunNotFoundError, t.PythonError)


class DagsterQuery(graphene.ObjectType):
    repositories_or_error = graphene.Field(RepositoriesOrError, required=True)
    repository_locations_or_error = graphene.Field(RepositoryLocationsOrError, required=True)
    pipeline_run_or_error = graphene.Field(
        PipelineRunOrError, required=True, run_id=graphene.ID(required=True)
    )
    run_or_error = graphene.Field(RunOrError, required=True, run_id=graphene.ID(required=True))

    @staticmethod
    @_python_errors
    def resolve_repositories_or_error(_root: Any, info: Any) -> Any:
        nodes = []
        for location in _workspace(info).locations():
            try:
                nodes.extend(_location(location).repositories)
            except CodeLocationError:  # a location that cannot load has no repository
                continue
        return t.RepositoryConnection(nodes=nodes)

    @staticmethod
    @_python_errors
    def resolve_repository_locations_or_error(_root: Any, info: Any) -> Any:
        nodes: list[Any] = []
        for location in _workspace(info).locations():
            try:
                nodes.append(_location(location))
            except CodeLocationError as exc:
                error = t.PythonError(message=str(exc), class_name=type(exc).__name__)
                nodes.append(
                    t.RepositoryLocationLoadFailure(
                        id=location.name, name=location.name, error=error
                    )
                )
        return t.RepositoryLocationConnection(nodes=nodes)

    @staticmethod
    @_python_errors
    def resolve_pipeline_run_or_error(_root: Any, info: Any, run_id: str) -> Any:
        try:
            record = info.context.instance.get_run(run_id)
        except RunNotFound as exc:
            return t.PipelineRunNotFoundError(message=str(exc), run_id=run_id)
        name = record.job_name
        return t.PipelineRun(
            run_id=record.run_id,
            id=record.run_id,
            status=record.status,
            pipeline_name=name,
            job_name=name,
        )

    @staticmethod
    @_python_errors
    def resolve_run_or_error(_root: Any, info: Any, run_id: str) -> Any:
        try:
            return t.Run.of(info.context.instance.get_run(run_id))
        except RunNotFound as exc:
            return t.RunNotFoundError(message=str(exc), run_id=run_id)


# -- launching ---------------------------------------------------------------------------------
_LAUNCH_ERRORS = (
    t.InvalidStepError,
    t.InvalidOutputError,
    t.ConflictingExecutionParamsError,
    t.PresetNotFoundError,
    t.PipelineNotFoundError,
    t.UnauthorizedError,
    t.PythonError,
)


class LaunchPipelineRunResult(graphene.Union):
    class Meta:
        types = (
            t.LaunchPipelineRunSuccess,
            t.PipelineRunConflict,
            t.PipelineConfigValidationInvalid,
            *_LAUNCH_ERRORS,
        )


class LaunchRunResult(graphene.Union):
    class Meta:
        types = (t.LaunchRunSuccess, t.RunConflict, t.RunConfigValidationInvalid, *_LAUNCH_ERRORS)


def _reason(message: str) -> str:
    if "unknown field" in message or "unknown key" in message or "no op named" in message:
        return "FIELD_NOT_DEFINED"
    if "required" in message and "missing" in message:
        return "MISSING_REQUIRED_FIELD"
    if "exactly one of" in message:
        return "SELECTOR_FIELD_ERROR"
    return "RUNTIME_TYPE_MISMATCH"


def _config_errors(problems: list[str]) -> list[t.PipelineConfigValidationError]:
    """opgraph's `path: message` problems as Dagster's errors (path split into keys)."""
    errors = []
    for problem in problems:
        path, _, message = problem.partition(": ")
        if not message:
            path, message = "", problem
        errors.append(
            t.PipelineConfigValidationError(
                message=problem, path=[p for p in path.split(".") if p], reason=_reason(message)
            )
        )
    return errors


def _launch(info: Any, params: Any, success: type, invalid: type) -> Any:
    refusal = _refusal(info)
    if refusal is not None:
        return refusal
    selector = params.selector
    job_name = selector.job_name or selector.pipeline_name
    location_name, repository_name = selector.repository_location_name, selector.repository_name

    def not_found(message: str) -> t.PipelineNotFoundError:
        return t.PipelineNotFoundError(
            message=message,
            pipeline_name=job_name or "",
            repository_name=repository_name,
            repository_location_name=location_name,
        )

    if not job_name:
        return not_found("executionParams.selector: give jobName (or pipelineName)")
    if params.get("preset"):
        return t.PresetNotFoundError(
            message=f"opgraph jobs have no presets; given preset {params.preset!r}",
            preset=params.preset,
        )
    workspace = _workspace(info)
    if location_name not in workspace.location_names():
        return not_found(
            f"no code location named {location_name!r}; the workspace has "
            f"{workspace.location_names()}"
        )
    if repository_name != t.DEFAULT_REPOSITORY_NAME:
        return not_found(
            f"code location {location_name!r} has one repository, "
            f"{t.DEFAULT_REPOSITORY_NAME!r}; given {repository_name!r}"
        )
    location = workspace.get(location_name)
    try:
        location.job(job_name)
    except DefinitionNotFound as exc:
        return not_found(str(exc))
    run_config = parse_run_config(params.get("run_config_data"), info.context.limits.run_config)
    metadata = params.get("execution_metadata") or {}
    # Clients may not set the platform's own tags (opgraph/...), as with launchRun.
    tags = tags_dict(metadata.get("tags"), "executionParams.executionMetadata.tags", to_set=True)
    op_selection = list(selector.get("solid_selection") or []) or None
    asset_selection = selector.get("asset_selection")
    if asset_selection is not None and op_selection:
        return t.InvalidStepError(
            message="executionParams.selector: give solidSelection or assetSelection, not both",
            invalid_step_key="solidSelection and assetSelection",
        )
    try:
        if asset_selection is not None:  # materialize these keys (Refused: a PythonError)
            run = create_selected_asset_run(
                info.context.instance,
                location,
                job_name,
                asset_selection,
                selector.get("asset_check_selection"),
                run_config,
                tags,
            )
        else:
            run = create_location_run(
                info.context.instance, location, job_name, run_config, tags, op_selection
            )
    except RunConfigError as exc:
        selection_problems = [e for e in exc.errors if e.startswith("op_selection: ")]
        if selection_problems:
            # The client reads InvalidStepError's invalidStepKey: the clauses that failed
            # and why (Dagster answers InvalidSubsetError, whose message the client's
            # query does not ask for).
            return t.InvalidStepError(
                message="; ".join(selection_problems),
                invalid_step_key="; ".join(selection_problems),
            )
        return invalid(
            message=f"invalid run config for job {job_name!r}",
            pipeline_name=job_name,
            errors=_config_errors(exc.errors),
        )
    return success(run=t.Run.of(submit_or_fail(info.context.instance, run)))


class LaunchPipelineExecution(graphene.Mutation):
    class Arguments:
        execution_params = t.ExecutionParams(required=True)

    Output = LaunchPipelineRunResult

    @staticmethod
    @_python_errors
    def mutate(_root: Any, info: Any, execution_params: Any) -> Any:
        return _launch(
            info, execution_params, t.LaunchPipelineRunSuccess, t.PipelineConfigValidationInvalid
        )


class LaunchRun(graphene.Mutation):
    class Arguments:
        execution_params = t.ExecutionParams(required=True)

    Output = LaunchRunResult

    @staticmethod
    @_python_errors
    def mutate(_root: Any, info: Any, execution_params: Any) -> Any:
        return _launch(info, execution_params, t.LaunchRunSuccess, t.RunConfigValidationInvalid)


# -- terminating -------------------------------------------------------------------------------
class TerminateRunPolicy(graphene.Enum):
    SAFE_TERMINATE = "SAFE_TERMINATE"
    MARK_AS_CANCELED_IMMEDIATELY = "MARK_AS_CANCELED_IMMEDIATELY"


# Dagster's SAFE_TERMINATE has the launcher interrupt the run's process, the op in flight
# included: that is opgraph's FORCE (opgraph's SAFE waits for the step to end). Marking a
# run canceled without stopping it is not offered: it is FORCE as well.
_POLICIES = {
    "SAFE_TERMINATE": TerminatePolicy.FORCE,
    "MARK_AS_CANCELED_IMMEDIATELY": TerminatePolicy.FORCE,
}


@_python_errors
def _terminate(info: Any, run_id: str, policy: Any) -> Any:
    instance = info.context.instance
    chosen = _POLICIES[str(getattr(policy, "value", policy) or "SAFE_TERMINATE")]
    try:
        outcome = terminate_run(instance, run_id, chosen)
    except RunNotFound as exc:
        return t.RunNotFoundError(message=str(exc), run_id=run_id)
    run = t.Run.of(instance.get_run(run_id))
    if outcome.moved:
        return t.TerminateRunSuccess(run=run)
    return t.TerminateRunFailure(message=outcome.message, run=run)


class TerminateRun(graphene.Mutation):
    class Arguments:
        run_id = graphene.String(required=True)
        terminate_policy = TerminateRunPolicy()

    Output = t.TerminateRunResult

    @staticmethod
    def mutate(_root: Any, info: Any, run_id: str, terminate_policy: Any = None) -> Any:
        return _refusal(info) or _terminate(info, run_id, terminate_policy)


class TerminateRuns(graphene.Mutation):
    class Arguments:
        run_ids = graphene.List(graphene.NonNull(graphene.String), required=True)
        terminate_policy = TerminateRunPolicy()

    Output = t.TerminateRunsResult

    @staticmethod
    def mutate(_root: Any, info: Any, run_ids: list[str], terminate_policy: Any = None) -> Any:
        refusal = _refusal(info)
        results = [refusal or _terminate(info, run_id, terminate_policy) for run_id in run_ids]
        return t.TerminateRunsResult(terminate_run_results=results)


# -- code locations ----------------------------------------------------------------------------
class ReloadRepositoryLocationMutationResult(graphene.Union):
    class Meta:
        types = (
            t.WorkspaceLocationEntry,
            t.ReloadNotSupported,
            t.RepositoryLocationNotFound,
            t.UnauthorizedError,
            t.PythonError,
        )


class ShutdownRepositoryLocationMutationResult(graphene.Union):
    class Meta:
        types = (
            t.ShutdownRepositoryLocationSuccess,
            t.RepositoryLocationNotFound,
            t.UnauthorizedError,
            t.PythonError,
        )


class _NotReloaded(Exception):
    """The answer instead of a reload: a refusal, or no such location."""

    def __init__(self, answer: Any):
        super().__init__(answer.message)
        self.answer = answer


def _reload(info: Any, name: str) -> Any:
    """Reload the location (a managed code server is restarted), after the mutation rules."""
    refusal = _refusal(info)
    if refusal is not None:
        raise _NotReloaded(refusal)
    workspace = _workspace(info)
    if name not in workspace.location_names():
        raise _NotReloaded(
            t.RepositoryLocationNotFound(
                message=f"no code location named {name!r}; the workspace has "
                f"{workspace.location_names()}"
            )
        )
    return workspace.reload(name)


class ReloadRepositoryLocation(graphene.Mutation):
    class Arguments:
        repository_location_name = graphene.String(required=True)

    Output = ReloadRepositoryLocationMutationResult

    @staticmethod
    @_python_errors
    def mutate(_root: Any, info: Any, repository_location_name: str) -> Any:
        try:
            status = _reload(info, repository_location_name)
        except _NotReloaded as exc:
            return exc.answer
        if status.state == LocationState.ERROR:
            detail = status.error.describe() if status.error else "the location failed to load"
            loaded: Any = t.PythonError(message=detail, class_name="CodeLocationError")
        else:
            loaded = _location(_workspace(info).get(repository_location_name))
        return t.WorkspaceLocationEntry(
            id=repository_location_name,
            name=repository_location_name,
            location_or_load_error=loaded,
        )


class ShutdownRepositoryLocation(graphene.Mutation):
    """opgraph restarts the location's code server (Dagster's webserver does the same
    after a managed server shuts down); a `server:` location is reloaded."""

    class Arguments:
        repository_location_name = graphene.String(required=True)

    Output = ShutdownRepositoryLocationMutationResult

    @staticmethod
    @_python_errors
    def mutate(_root: Any, info: Any, repository_location_name: str) -> Any:
        try:
            _reload(info, repository_location_name)
        except _NotReloaded as exc:
            return exc.answer
        return t.ShutdownRepositoryLocationSuccess(
            repository_location_name=repository_location_name
        )


class DagsterMutation(graphene.ObjectType):
    launch_pipeline_execution = LaunchPipelineExecution.Field(required=True)
    launch_run = LaunchRun.Field(required=True)
    terminate_run = TerminateRun.Field(required=True)
    terminate_runs = TerminateRuns.Field(required=True)
    reload_repository_location = ReloadRepositoryLocation.Field(required=True)
    shutdown_repository_location = ShutdownRepositoryLocation.Field(required=True)


dagster_schema = graphene.Schema(query=DagsterQuery, mutation=DagsterMutation)


# -- which schema answers a request ------------------------------------------------------------
def _root_fields(schema: GraphQLSchema) -> set[str]:
    roots = [schema.query_type, schema.mutation_type]
    return {name for root in roots if root is not None for name in root.fields}


@functools.cache
def dagster_only_fields(own: GraphQLSchema) -> frozenset[str]:
    return frozenset(_root_fields(dagster_schema.graphql_schema) - _root_fields(own))


def dagster_schema_for(document: DocumentNode, own: GraphQLSchema) -> GraphQLSchema | None:
    """Dagster's schema when the document is the Dagster client's, else None (opgraph's)."""
    only = dagster_only_fields(own)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.name is not None and definition.name.value.startswith("GraphQLClient"):
            return dagster_schema.graphql_schema
        for selection in definition.selection_set.selections:
            if isinstance(selection, FieldNode) and selection.name.value in only:
                return dagster_schema.graphql_schema
    return None
