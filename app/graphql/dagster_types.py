"""Types of the Dagster-compatible GraphQL schema (what `dagster_graphql`'s client reads).

They live in their own schema (dagster_schema.py) because several of Dagster's type names
mean something else in opgraph's (`TerminateRunsResult`, `ExecutionParams`...). Each type
has the fields Dagster's client selects, named as Dagster names them.
"""

from __future__ import annotations

import graphene
from graphene.types.generic import GenericScalar

from opgraph_storage.records import RunStatus as StoredRunStatus

DEFAULT_REPOSITORY_NAME = "__repository__"  # Dagster's name for a Definitions' repository

RunStatus = graphene.Enum.from_enum(StoredRunStatus, name="RunStatus")


# -- errors ------------------------------------------------------------------------------------
class Error(graphene.Interface):
    message = graphene.String(required=True)


class _TypedError(graphene.ObjectType):
    class Meta:
        abstract = True

    @classmethod
    def __init_subclass_with_meta__(cls, **options: object) -> None:
        super().__init_subclass_with_meta__(interfaces=(Error,), **options)  # type: ignore[arg-type]


class PythonError(_TypedError):
    class_name = graphene.String()
    stack = graphene.List(graphene.NonNull(graphene.String), required=True)

    @staticmethod
    def resolve_stack(_root: object, _info: object) -> list[str]:
        return []  # tracebacks stay in the server log


class UnauthorizedError(_TypedError):
    pass


class InvalidStepError(_TypedError):
    invalid_step_key = graphene.String(required=True)


class InvalidOutputError(_TypedError):
    step_key = graphene.String(required=True)
    invalid_output_name = graphene.String(required=True)


class ConflictingExecutionParamsError(_TypedError):
    pass


class PresetNotFoundError(_TypedError):
    preset = graphene.String()


class RunConflict(_TypedError):
    pass


class PipelineRunConflict(_TypedError):
    pass


class PipelineNotFoundError(_TypedError):
    pipeline_name = graphene.String(required=True)
    repository_name = graphene.String(required=True)
    repository_location_name = graphene.String(required=True)


class RunNotFoundError(_TypedError):
    run_id = graphene.String(required=True)


class PipelineRunNotFoundError(_TypedError):
    run_id = graphene.String(required=True)


class RepositoryLocationNotFound(_TypedError):
    pass


class ReloadNotSupported(_TypedError):
    pass


class EvaluationErrorReason(graphene.Enum):
    RUNTIME_TYPE_MISMATCH = "RUNTIME_TYPE_MISMATCH"
    MISSING_REQUIRED_FIELD = "MISSING_REQUIRED_FIELD"
    FIELD_NOT_DEFINED = "FIELD_NOT_DEFINED"
    SELECTOR_FIELD_ERROR = "SELECTOR_FIELD_ERROR"


class PipelineConfigValidationError(graphene.ObjectType):
    """One problem of a run config: `path` is the keys leading to it."""

    message = graphene.String(required=True)
    path = graphene.List(graphene.NonNull(graphene.String), required=True)
    reason = graphene.Field(EvaluationErrorReason, required=True)


class PipelineConfigValidationInvalid(_TypedError):
    pipeline_name = graphene.String(required=True)
    errors = graphene.List(graphene.NonNull(PipelineConfigValidationError), required=True)


class RunConfigValidationInvalid(_TypedError):
    pipeline_name = graphene.String(required=True)
    errors = graphene.List(graphene.NonNull(PipelineConfigValidationError), required=True)


# -- runs ----------------------------------------------------------------------------------------
class Run(graphene.ObjectType):
    run_id = graphene.String(required=True)
    id = graphene.ID(required=True)
    status = graphene.Field(RunStatus, required=True)
    pipeline_name = graphene.String(required=True)
    job_name = graphene.String(required=True)

    @staticmethod
    def of(record: object) -> Run:
        run_id = record.run_id  # type: ignore[attr-defined]
        name = record.job_name  # type: ignore[attr-defined]
        status = record.status  # type: ignore[attr-defined]
        return Run(run_id=run_id, id=run_id, status=status, pipeline_name=name, job_name=name)


class PipelineRun(Run):
    """Dagster's older name for a run: `pipelineRunOrError` answers with it."""


class LaunchRunSuccess(graphene.ObjectType):
    run = graphene.Field(Run, required=True)


class LaunchPipelineRunSuccess(graphene.ObjectType):
    run = graphene.Field(Run, required=True)


class TerminateRunSuccess(graphene.ObjectType):
    run = graphene.Field(Run, required=True)


class TerminateRunFailure(_TypedError):
    run = graphene.Field(Run)


class TerminateRunResult(graphene.Union):
    class Meta:
        types = (
            TerminateRunSuccess,
            TerminateRunFailure,
            RunNotFoundError,
            UnauthorizedError,
            PythonError,
        )


class TerminateRunsResult(graphene.ObjectType):
    terminate_run_results = graphene.List(graphene.NonNull(TerminateRunResult), required=True)


# -- repositories and locations ----------------------------------------------------------------
class Pipeline(graphene.ObjectType):
    name = graphene.String(required=True)


class Job(graphene.ObjectType):
    name = graphene.String(required=True)


class RepositoryLocation(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    is_reload_supported = graphene.Boolean(required=True)
    repositories = graphene.List(
        graphene.NonNull(lambda: Repository),
        required=True,
    )


class Repository(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    location = graphene.Field(RepositoryLocation, required=True)
    pipelines = graphene.List(graphene.NonNull(Pipeline), required=True)
    jobs = graphene.List(graphene.NonNull(Job), required=True)


class RepositoryConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(Repository), required=True)


class RepositoryLocationLoadFailure(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    error = graphene.Field(PythonError, required=True)


class RepositoryLocationOrLoadFailure(graphene.Union):
    class Meta:
        types = (RepositoryLocation, RepositoryLocationLoadFailure)


class RepositoryLocationConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(RepositoryLocationOrLoadFailure), required=True)


class RepositoryLocationOrLoadError(graphene.Union):
    class Meta:
        types = (RepositoryLocation, PythonError)


class WorkspaceLocationEntry(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    location_or_load_error = graphene.Field(RepositoryLocationOrLoadError)


class ShutdownRepositoryLocationSuccess(graphene.ObjectType):
    repository_location_name = graphene.String(required=True)


# -- inputs --------------------------------------------------------------------------------------
class RunConfigData(GenericScalar):
    """A run config: a mapping, or YAML text of one."""


class ExecutionTag(graphene.InputObjectType):
    key = graphene.String(required=True)
    value = graphene.String(required=True)


class ExecutionMetadata(graphene.InputObjectType):
    run_id = graphene.String()
    tags = graphene.List(graphene.NonNull(ExecutionTag))
    root_run_id = graphene.String()
    parent_run_id = graphene.String()


class JobOrPipelineSelector(graphene.InputObjectType):
    repository_location_name = graphene.String(required=True)
    repository_name = graphene.String(required=True)
    pipeline_name = graphene.String()
    job_name = graphene.String()
    solid_selection = graphene.List(graphene.NonNull(graphene.String))
    asset_selection = GenericScalar()
    asset_check_selection = GenericScalar()


class ExecutionParams(graphene.InputObjectType):
    selector = graphene.InputField(JobOrPipelineSelector, required=True)
    run_config_data = RunConfigData()
    mode = graphene.String()
    execution_metadata = graphene.InputField(ExecutionMetadata)
    step_keys = graphene.List(graphene.NonNull(graphene.String))
    preset = graphene.String()
