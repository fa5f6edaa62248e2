"""Snapshots: loaded definitions turned into the JSON-able records of `opgraph.workspace`.

Only code servers (and tests) call this: it needs the user's `JobDefinition` objects.
The run config JSON Schema describes the whole run config (`ops`, `resources`,
`execution`); the authoritative check stays `opgraph.run_config.validate_run_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from opgraph.config import ConfigSchema
from opgraph.config_scaffold import ConfigAction, scaffold_run_config
from opgraph.executors.definitions import multi_or_in_process_executor
from opgraph.partitions.snapshot import partitions_snapshot
from opgraph.plan import FlatCollect, FlatItem, FlatMany, FlatOp, FlatOutput, FlatSource
from opgraph.resources import ConfigurableResource, resource_config_schema
from opgraph.run_config import job_resource_defs
from opgraph.workspace.base import (
    InputSnapshot,
    JobSnapshot,
    OpSnapshot,
    OutputSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    UpstreamOutput,
)

if TYPE_CHECKING:
    from opgraph.definitions.graph import GraphDefinition, JobDefinition
    from opgraph.schedules import ScheduleDefinition, SensorDefinition

_VALUE_KEY = "value"  # how opgraph.config wraps a bare-type config_schema (config_schema=int)
_OBJECT = {"type": "object", "additionalProperties": False}


def jsonable(value: Any) -> Any:
    """User-given values (tags, default config) as plain JSON; odd objects become strings."""
    return json.loads(json.dumps(value, default=str))


def _type_name(annotation: Any) -> str | None:
    if annotation is None or annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation)


# -- ops ---------------------------------------------------------------------------------------
def _input_snapshot(op: FlatOp, name: str) -> InputSnapshot:
    spec = op.op_def.ins[name]
    source: FlatSource | None = op.inputs.get(name)
    params = inspect.signature(op.op_def.compute_fn).parameters
    annotation = spec.dagster_type if spec.dagster_type is not None else None
    if annotation is None and name in params:
        annotation = params[name].annotation
    kind, upstream = "none", tuple[UpstreamOutput, ...]()
    if isinstance(source, FlatMany):
        kind = "fan_in"
        upstream = tuple(UpstreamOutput(s.handle, s.output) for s in source.sources)
    elif source is not None:
        kind = {FlatOutput: "output", FlatItem: "mapped", FlatCollect: "collected"}[type(source)]
        upstream = (UpstreamOutput(source.handle, source.output),)
    return InputSnapshot(
        kind=kind,
        upstream=upstream,
        description=spec.description,
        dagster_type=None if spec.is_nothing else _type_name(annotation),
        has_default=spec.has_default,
        is_nothing=spec.is_nothing,
    )


def _op_snapshot(op: FlatOp) -> OpSnapshot:
    op_def = op.op_def
    returns = inspect.signature(op_def.compute_fn).return_annotation
    outputs = tuple(
        OutputSnapshot(
            name=name,
            is_required=out.is_required,
            is_dynamic=out.is_dynamic,
            io_manager_key=out.io_manager_key,
            description=out.description,
            dagster_type=_type_name(
                out.dagster_type
                if out.dagster_type is not None
                else (returns if len(op_def.outs) == 1 else None)
            ),
        )
        for name, out in op_def.outs.items()
    )
    policy = op_def.retry_policy
    return OpSnapshot(
        handle=op.handle,
        op_name=op_def.name,
        description=op_def.description,
        tags=jsonable({str(k): v for k, v in op_def.tags.items()}),
        inputs={name: _input_snapshot(op, name) for name in op_def.ins},
        outputs=outputs,
        config_schema=_standalone_schema(op_def.config_schema),
        retry_policy=None
        if policy is None
        else {
            "max_retries": policy.max_retries,
            "delay": policy.delay,
            "backoff": policy.backoff.value if policy.backoff else None,
            "jitter": policy.jitter.value if policy.jitter else None,
        },
        required_resource_keys=tuple(sorted(op_def.required_resource_keys)),
        mapped_over=UpstreamOutput(*op.dynamic_source) if op.dynamic_source else None,
    )


def _is_value_wrapper(schema: ConfigSchema) -> bool:
    return (
        schema.model is not None
        and not schema.is_config_class
        and set(schema.model.model_fields) == {_VALUE_KEY}
    )


def _standalone_schema(schema: ConfigSchema) -> dict[str, Any]:
    """One op's config schema on its own (the op panel in the UI shows it)."""
    if schema.model is None:
        return {}
    try:
        full = schema.model.model_json_schema()
    except Exception:  # a type without a JSON Schema: say so rather than fail the location
        return {"description": f"no JSON Schema for {schema.model.__name__}"}
    if _is_value_wrapper(schema):
        value = dict(full["properties"][_VALUE_KEY])
        if "$defs" in full:
            value["$defs"] = full["$defs"]
        return value
    return full


# -- the run config schema ----------------------------------------------------------------------
class _SchemaBuilder:
    """Collects every config model of a job into one JSON Schema with shared `$defs`."""

    def __init__(self, models: Iterable[type[BaseModel]]):
        usable = []
        for model in dict.fromkeys(models):  # unique, in order
            try:
                model.model_json_schema()
                usable.append(model)
            except Exception:  # not expressible in JSON Schema: accept anything there
                continue
        self.refs: dict[type[BaseModel], dict[str, Any]] = {}
        self.defs: dict[str, Any] = {}
        if usable:
            key_map, top = models_json_schema([(m, "validation") for m in usable])
            self.refs = {model: key_map[(model, "validation")] for model in usable}
            self.defs = top.get("$defs", {})

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        return copy.deepcopy(self.refs.get(model, {}))

    def resolved(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's schema inline (not a `$ref`), so that it can be adjusted."""
        schema = self.model(model)
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return copy.deepcopy(self.defs[ref.removeprefix("#/$defs/")])
        return schema

    def config(self, schema: ConfigSchema) -> dict[str, Any]:
        if schema.model is None:
            return {}
        if _is_value_wrapper(schema):  # `config: 3` or `config: {value: 3}`
            inner = self.resolved(schema.model).get("properties", {}).get(_VALUE_KEY, {})
            wrapped: dict[str, Any] = {"anyOf": [inner, self.model(schema.model)]}
            if "description" in inner:  # Field(int, description=...): shown on `config`
                wrapped["description"] = inner["description"]
            return wrapped
        return self.model(schema.model)


def _has(config: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return False
        config = config[key]
    return True


def _ops_schema(
    graph: GraphDefinition, builder: _SchemaBuilder, defaults: dict[str, Any], path: list[str]
) -> tuple[dict[str, Any], bool]:
    """The `ops:` section of a (nested) graph, and whether something in it is required."""
    from opgraph.definitions.graph import GraphDefinition

    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, node in graph.nodes.items():
        node_path = [*path, name]
        if isinstance(node.definition, GraphDefinition):
            inner, inner_required = _ops_schema(
                node.definition, builder, defaults, [*node_path, "ops"]
            )
            entry = {**_OBJECT, "properties": {"ops": inner}}
            if inner_required:
                entry["required"] = ["ops"]
                required.append(name)
            properties[name] = entry
            continue
        op_def = node.definition
        entry_props: dict[str, Any] = {}
        entry_required: list[str] = []
        if op_def.config_schema.model is not None:
            entry_props["config"] = builder.config(op_def.config_schema)
            if op_def.config_schema.has_required_fields and not _has(
                defaults, [*node_path, "config"]
            ):
                entry_required.append("config")
        unconnected = [
            key
            for key, spec in op_def.ins.items()
            if key not in node.inputs and not spec.is_nothing
        ]
        if unconnected:
            entry_props["inputs"] = {**_OBJECT, "properties": {key: {} for key in unconnected}}
        entry = {**_OBJECT, "properties": entry_props}
        if entry_required:
            entry["required"] = entry_required
            required.append(name)
        properties[name] = entry
    schema = {**_OBJECT, "properties": properties}
    if required:
        schema["required"] = required
    return schema, bool(required)


def _graph_config_schemas(graph: GraphDefinition) -> list[ConfigSchema]:
    from opgraph.definitions.graph import GraphDefinition

    found: list[ConfigSchema] = []
    for node in graph.nodes.values():
        if isinstance(node.definition, GraphDefinition):
            found.extend(_graph_config_schemas(node.definition))
        else:
            found.append(node.definition.config_schema)
    return found


def _resource_config(definition: Any, builder: _SchemaBuilder) -> tuple[dict[str, Any], bool]:
    """A resource's `config` schema, and whether it must be given."""
    if isinstance(definition, ConfigurableResource):
        schema = builder.resolved(type(definition))
        given = definition.model_dump(exclude_unset=True)
        for name, var in definition._env_vars.items():  # the variable's name, never its value
            schema.setdefault("properties", {}).setdefault(name, {})["description"] = (
                f'EnvVar("{var}"): read from the environment when the run starts'
            )
        still_required = [key for key in schema.get("required", []) if key not in given]
        if still_required:
            schema["required"] = still_required
        else:
            schema.pop("required", None)
        return schema, bool(still_required)
    config_schema = resource_config_schema(definition)
    return builder.config(config_schema), config_schema.has_required_fields


def run_config_schema(job: JobDefinition) -> dict[str, Any]:
    """JSON Schema (2020-12) of the whole run config of `job`."""
    executor_def = job.executor_def or multi_or_in_process_executor
    resources = job_resource_defs(job)
    models: list[type[BaseModel]] = [
        s.model for s in _graph_config_schemas(job.graph) if s.model is not None
    ]
    for definition in resources.values():
        if isinstance(definition, ConfigurableResource):
            models.append(type(definition))
        elif (model := resource_config_schema(definition).model) is not None:
            models.append(model)
    models.append(executor_def.config_type())
    builder = _SchemaBuilder(models)

    defaults = job.default_run_config
    ops, ops_required = _ops_schema(job.graph, builder, defaults, ["ops"])
    resource_props: dict[str, Any] = {}
    resources_required: list[str] = []
    for key, definition in resources.items():
        config, needed = _resource_config(definition, builder)
        entry = {**_OBJECT, "properties": {"config": config}}
        if needed and not _has(defaults, ["resources", key, "config"]):
            entry["required"] = ["config"]
            resources_required.append(key)
        resource_props[key] = entry
    resources_schema = {**_OBJECT, "properties": resource_props}
    if resources_required:
        resources_schema["required"] = resources_required
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Run config of job {job.name}",
        **_OBJECT,
        "properties": {
            "ops": ops,
            "resources": resources_schema,
            "execution": {
                **_OBJECT,
                "properties": {"config": builder.model(executor_def.config_type())},
            },
            "loggers": {"type": "object", "description": "accepted for Dagster compatibility"},
        },
    }
    required = [
        name for name, flag in (("ops", ops_required), ("resources", resources_required)) if flag
    ]
    if required:
        schema["required"] = required
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


# -- the launchpad scaffold ---------------------------------------------------------------------
def run_config_scaffold(job: JobDefinition, schema: dict[str, Any] | None = None) -> str:
    """YAML of every op config field (defaults filled in) and of the resource config fields
    that must be given; a required field without a default is a placeholder
    (`name:  # required: integer`, YAML null) that never validates."""
    made = scaffold_run_config(
        run_config_schema(job) if schema is None else schema,
        ConfigAction.SCAFFOLD,
        default_run_config=jsonable(job.default_run_config),
    )
    header = f"# Run config for job {job.name}: defaults filled in"
    if made.missing:
        header += f"; fill in the {len(made.missing)} field(s) marked required"
    return f"{header}\n{made.text}"


# -- jobs, schedules, sensors -------------------------------------------------------------------
def job_snapshot(job: JobDefinition) -> JobSnapshot:
    executor_def = job.executor_def or multi_or_in_process_executor
    schema = run_config_schema(job)
    snapshot = JobSnapshot(
        name=job.name,
        description=job.description,
        tags=jsonable(job.tags),
        ops=tuple(_op_snapshot(op) for op in job.flat_ops.values()),
        run_config_schema=schema,
        default_run_config=jsonable(job.default_run_config),
        run_config_scaffold=run_config_scaffold(job, schema),
        resource_keys=tuple(sorted(job_resource_defs(job))),
        executor=executor_def.name,
        partitions=partitions_snapshot(getattr(job, "partitions_def", None)),
        has_partitioned_config=getattr(job, "partitioned_config", None) is not None,
    )
    body = json.dumps(snapshot.to_json(), sort_keys=True)
    return dataclasses.replace(snapshot, snapshot_id=_digest(body))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def schedule_snapshot(schedule: ScheduleDefinition) -> ScheduleSnapshot:
    return ScheduleSnapshot(
        name=schedule.name,
        job_name=schedule.job_name,
        cron_schedule=schedule.cron_schedule,
        execution_timezone=schedule.execution_timezone,
        default_status=schedule.default_status.value,
        description=schedule.description,
        tags=jsonable(schedule.tags),
    )


def sensor_snapshot(sensor: SensorDefinition) -> SensorSnapshot:
    return SensorSnapshot(
        name=sensor.name,
        job_name=sensor.job_name,
        minimum_interval_seconds=sensor.minimum_interval_seconds,
        default_status=sensor.default_status.value,
        description=sensor.description,
        run_status=status.value if (status := getattr(sensor, "run_status", None)) else None,
        monitored_jobs=list(getattr(sensor, "monitored_job_names", [])),
        monitor_all_code_locations=getattr(sensor, "monitor_all_code_locations", False),
    )
