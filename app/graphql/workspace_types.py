"""Code locations, their jobs (op graphs, config schemas), schedules and sensors.

Roots are the JSON records of `opgraph.workspace.base`; the webserver never imports user
code to answer these.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from opgraph.assets.job import is_hidden_job_name
from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    InputSnapshot,
    JobSnapshot,
    LocationState,
    OpSnapshot,
)
from opgraph_app.graphql.types import Tag


def _tags(tags: dict[str, str]) -> list[Tag]:
    return [Tag(key=k, value=v) for k, v in sorted(tags.items())]


class UpstreamOutput(graphene.ObjectType):
    handle = graphene.String(required=True, description="Op handle, e.g. etl.extract")
    output = graphene.String(required=True)


class OpInput(graphene.ObjectType):
    name = graphene.String(required=True)
    kind = graphene.String(required=True, description="output, mapped, collected, fan_in, none")
    upstream = graphene.List(graphene.NonNull(UpstreamOutput), required=True)
    description = graphene.String()
    dagster_type = graphene.String()
    has_default = graphene.Boolean(required=True)
    is_nothing = graphene.Boolean(required=True)


class OpOutput(graphene.ObjectType):
    name = graphene.String(required=True)
    is_required = graphene.Boolean(required=True)
    is_dynamic = graphene.Boolean(required=True)
    io_manager_key = graphene.String(required=True)
    description = graphene.String()
    dagster_type = graphene.String()


class Op(graphene.ObjectType):
    handle = graphene.String(required=True)
    op_name = graphene.String(required=True)
    description = graphene.String()
    tags = graphene.List(graphene.NonNull(Tag), required=True)
    inputs = graphene.List(graphene.NonNull(OpInput), required=True)
    outputs = graphene.List(graphene.NonNull(OpOutput), required=True)
    config_schema = GenericScalar(required=True)
    retry_policy = GenericScalar()
    required_resource_keys = graphene.List(graphene.NonNull(graphene.String), required=True)
    mapped_over = graphene.Field(UpstreamOutput)

    @staticmethod
    def resolve_tags(root: OpSnapshot, _info: Any) -> list[Tag]:
        return _tags(root.tags)

    @staticmethod
    def resolve_inputs(root: OpSnapshot, _info: Any) -> list[Any]:
        return [_OpInputRoot(name, snapshot) for name, snapshot in root.inputs.items()]


class _OpInputRoot:
    """An InputSnapshot with its name (the snapshot is keyed by name in its op)."""

    def __init__(self, name: str, snapshot: InputSnapshot):
        self.name = name
        self._snapshot = snapshot

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._snapshot, attribute)


class Job(graphene.ObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    tags = graphene.List(graphene.NonNull(Tag), required=True)
    ops = graphene.List(graphene.NonNull(Op), required=True)
    run_config_schema = GenericScalar(required=True)
    default_run_config = GenericScalar(required=True)
    run_config_scaffold = graphene.String(
        required=True,
        description="YAML to start from: defaults filled in, required fields as placeholders "
        "(`name:  # required: integer`) that do not validate until filled in.",
    )
    resource_keys = graphene.List(graphene.NonNull(graphene.String), required=True)
    executor = graphene.String(required=True)
    snapshot_id = graphene.String(required=True)

    @staticmethod
    def resolve_tags(root: JobSnapshot, _info: Any) -> list[Tag]:
        return _tags(root.tags)


class Schedule(graphene.ObjectType):
    name = graphene.String(required=True)
    job_name = graphene.String(required=True)
    cron_schedule = graphene.String(required=True)
    execution_timezone = graphene.String()
    default_status = graphene.String(required=True)
    description = graphene.String()
    tags = graphene.List(graphene.NonNull(Tag), required=True)

    @staticmethod
    def resolve_tags(root: Any, _info: Any) -> list[Tag]:
        return _tags(root.tags)


class Sensor(graphene.ObjectType):
    name = graphene.String(required=True)
    job_name = graphene.String(required=True)
    minimum_interval_seconds = graphene.Int(required=True)
    default_status = graphene.String(required=True)
    description = graphene.String()


class LocationLoadError(graphene.ObjectType):
    """Why a location's code did not load; file and line point into the user's code."""

    message = graphene.String(required=True)
    error_class = graphene.String()
    file = graphene.String()
    line = graphene.Int()
    traceback = graphene.String(required=True, description="Of the user's code.")


CodeLocationState = graphene.Enum.from_enum(LocationState)


class CodeLocationEntry(graphene.ObjectType):
    """One entry of workspace.yaml: its state, and what it holds once LOADED."""

    name = graphene.String(required=True)
    state = graphene.Field(CodeLocationState, required=True)
    version = graphene.String()
    load_error = graphene.Field(LocationLoadError)
    updated_at = graphene.Float()
    jobs = graphene.List(graphene.NonNull(Job), required=True)
    job = graphene.Field(Job, name=graphene.String(required=True))
    schedules = graphene.List(graphene.NonNull(Schedule), required=True)
    sensors = graphene.List(graphene.NonNull(Sensor), required=True)

    @staticmethod
    def resolve_state(root: CodeLocation, _info: Any) -> LocationState:
        return root.status().state

    @staticmethod
    def resolve_version(root: CodeLocation, _info: Any) -> str | None:
        return root.status().version

    @staticmethod
    def resolve_load_error(root: CodeLocation, _info: Any) -> Any:
        return root.status().error

    @staticmethod
    def resolve_updated_at(root: CodeLocation, _info: Any) -> float:
        return root.status().updated_at

    # A location that did not load has nothing to list; `state` and `loadError` say why.
    # The implicit asset job is not listed (`job(name: "__ASSET_JOB")` still finds it).
    @staticmethod
    def resolve_jobs(root: CodeLocation, _info: Any) -> list[JobSnapshot]:
        try:
            return [job for job in root.jobs() if not is_hidden_job_name(job.name)]
        except CodeLocationError:
            return []

    @staticmethod
    def resolve_job(root: CodeLocation, _info: Any, name: str) -> JobSnapshot | None:
        try:
            return root.job(name)
        except CodeLocationError:  # also DefinitionNotFound
            return None

    @staticmethod
    def resolve_schedules(root: CodeLocation, _info: Any) -> list[Any]:
        try:
            return root.schedules()
        except CodeLocationError:
            return []

    @staticmethod
    def resolve_sensors(root: CodeLocation, _info: Any) -> list[Any]:
        try:
            return root.sensors()
        except CodeLocationError:
            return []


class Workspace(graphene.ObjectType):
    location_entries = graphene.List(graphene.NonNull(CodeLocationEntry), required=True)

    @staticmethod
    def resolve_location_entries(root: Any, _info: Any) -> list[CodeLocation]:
        return root.locations()


class ExecutionStep(graphene.ObjectType):
    key = graphene.String(required=True, description="The op handle; mapped steps add [key]")
    op_name = graphene.String(required=True)
    outputs = graphene.List(graphene.NonNull(graphene.String), required=True)
    upstream_keys = graphene.List(graphene.NonNull(graphene.String), required=True)
    mapped_over = graphene.Field(UpstreamOutput)
    inputs = GenericScalar(required=True, description="Input name -> where its value comes from")


class ExecutionPlan(graphene.ObjectType):
    job_name = graphene.String(required=True)
    steps = graphene.List(graphene.NonNull(ExecutionStep), required=True)


def execution_plan(snapshot: dict[str, Any]) -> ExecutionPlan:
    """From `ExecutionPlan.to_snapshot()` JSON (as a code location returns it)."""
    steps = []
    for op in snapshot.get("ops", []):
        sources: list[Any] = []
        for source in op.get("inputs", {}).values():
            sources.extend(source if isinstance(source, list) else [source])
        upstream = sorted({s["handle"] for s in sources if isinstance(s, dict) and "handle" in s})
        mapped = op.get("mapped_over")
        steps.append(
            ExecutionStep(
                key=op["handle"],
                op_name=op.get("op", op["handle"]),
                outputs=list(op.get("outputs", [])),
                upstream_keys=upstream,
                mapped_over=UpstreamOutput(handle=mapped[0], output=mapped[1]) if mapped else None,
                inputs=op.get("inputs", {}),
            )
        )
    return ExecutionPlan(job_name=snapshot.get("job_name", ""), steps=steps)
