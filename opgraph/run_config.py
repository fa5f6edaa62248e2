"""Run config validation: every problem is reported at once, by path.

ops.extract.config.limit: expected int, got 'ten'
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from opgraph.config import ConfigSchema, config_value, raw_for_model
from opgraph.errors import RunConfigError
from opgraph.executors.definitions import multi_or_in_process_executor
from opgraph.resources import ConfigurableResource, mem_io_manager, resource_config_schema

if TYPE_CHECKING:
    from opgraph.definitions.graph import GraphDefinition, JobDefinition

_TYPE_NAMES = {
    "int": "int",
    "float": "float",
    "string": "str",
    "bool": "bool",
    "list": "list",
    "dict": "a mapping",
    "model": "a mapping",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    given = error.get("input")
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        return "unknown field"
    for prefix, name in _TYPE_NAMES.items():
        if kind.startswith(prefix + "_") and ("type" in kind or "parsing" in kind):
            return f"expected {name}, got {given!r}"
    return f"{error['msg']}, got {given!r}"


def _pydantic_errors(prefix: str, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        problems.append(
            f"{prefix}.{loc}: {_describe(error)}" if loc else f"{prefix}: {_describe(error)}"
        )
    return problems


def _validate_model(model: type[BaseModel], raw: Any, path: str, problems: list[str]) -> Any:
    try:
        return model.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        problems.extend(_pydantic_errors(path, exc))
        return None


def _mapping(raw: Any, path: str, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{path}: expected a mapping, got {raw!r}")
        return {}
    return raw


def _unknown_keys(raw: dict[str, Any], allowed: list[str], path: str, problems: list[str]) -> None:
    for key in raw:
        if key not in allowed:
            problems.append(f"{path}.{key}: unknown key; expected one of {allowed}".lstrip("."))


def _required(schema: ConfigSchema) -> list[str]:
    assert schema.model is not None
    return [k for k, f in schema.model.model_fields.items() if f.is_required()]


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class ResolvedRunConfig:
    raw: dict[str, Any]
    op_configs: dict[str, Any] = field(default_factory=dict)  # handle -> what ops see
    op_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resource_configs: dict[str, Any] = field(default_factory=dict)
    executor_class: str = ""
    executor_config: dict[str, Any] = field(default_factory=dict)

    def input_value(self, handle: str, name: str) -> Any:
        return self.op_inputs.get(handle, {}).get(name)


def job_resource_defs(job: JobDefinition, in_process: bool = False) -> dict[str, Any]:
    """The job's resources plus the default IO manager."""
    from opgraph.resources import fs_io_manager

    defaults = {"io_manager": mem_io_manager if in_process else fs_io_manager}
    return {**defaults, **job.resource_defs}


class _Validator:
    def __init__(self, job: JobDefinition, in_process: bool):
        self.job = job
        self.in_process = in_process
        self.problems: list[str] = []
        self.op_configs: dict[str, Any] = {}
        self.op_inputs: dict[str, dict[str, Any]] = {}

    def op_config(self, handle: str, schema: ConfigSchema, raw: Any, path: str) -> None:
        if schema.model is None:
            if raw not in (None, {}):
                self.problems.append(f"{path}: op {handle!r} takes no config, got {raw!r}")
            return
        if raw is None and schema.has_required_fields:
            self.problems.append(f"{path}: required config missing (fields {_required(schema)})")
            return
        validated = _validate_model(schema.model, raw_for_model(schema, raw), path, self.problems)
        self.op_configs[handle] = config_value(schema, validated)

    def graph(self, graph: GraphDefinition, raw: Any, path: str, prefix: str) -> None:
        from opgraph.definitions.graph import GraphDefinition

        entries = _mapping(raw, path, self.problems)
        for name in entries:
            if name not in graph.nodes:
                self.problems.append(
                    f"{path}.{name}: no op named {name!r} in {graph.name!r}; "
                    f"expected one of {sorted(graph.nodes)}"
                )
        for name, node in graph.nodes.items():
            node_path = f"{path}.{name}"
            entry = _mapping(entries.get(name), node_path, self.problems)
            if isinstance(node.definition, GraphDefinition):
                _unknown_keys(entry, ["ops"], node_path, self.problems)
                self.graph(
                    node.definition, entry.get("ops"), f"{node_path}.ops", f"{prefix}{name}."
                )
                continue
            _unknown_keys(entry, ["config", "inputs"], node_path, self.problems)
            handle = f"{prefix}{name}"
            if handle not in self.job.flat_ops:
                # Left out by op_selection: its config may be given (and is checked) but is
                # not required, as in Dagster.
                if entry.get("config") is not None:
                    schema = node.definition.config_schema
                    self.op_config(handle, schema, entry["config"], f"{node_path}.config")
                continue
            self.op_config(
                handle, node.definition.config_schema, entry.get("config"), f"{node_path}.config"
            )
            inputs = _mapping(entry.get("inputs"), f"{node_path}.inputs", self.problems)
            _unknown_keys(inputs, node.definition.input_names, f"{node_path}.inputs", self.problems)
            if inputs:
                self.op_inputs[handle] = {
                    k: (v.get("value") if isinstance(v, dict) and set(v) == {"value"} else v)
                    for k, v in inputs.items()
                }

    def resources(self, raw: Any) -> dict[str, Any]:
        defs = job_resource_defs(self.job, self.in_process)
        entries = _mapping(raw, "resources", self.problems)
        for key in entries:
            if key not in defs:
                self.problems.append(
                    f"resources.{key}: job {self.job.name!r} has no resource {key!r}; "
                    f"expected one of {sorted(defs)}"
                )
        configs: dict[str, Any] = {}
        for key, definition in defs.items():
            path = f"resources.{key}"
            entry = _mapping(entries.get(key), path, self.problems)
            _unknown_keys(entry, ["config"], path, self.problems)
            raw_config = entry.get("config")
            if isinstance(definition, ConfigurableResource):
                merged = {
                    **definition.model_dump(exclude_unset=True),
                    **_mapping(raw_config, f"{path}.config", self.problems),
                }
                _validate_model(type(definition), merged, f"{path}.config", self.problems)
                configs[key] = raw_config
                continue
            schema = resource_config_schema(definition)
            if schema.model is None:
                configs[key] = raw_config
                continue
            if raw_config is None and schema.has_required_fields:
                self.problems.append(
                    f"{path}.config: required config missing (fields {_required(schema)})"
                )
                continue
            validated = _validate_model(
                schema.model, raw_for_model(schema, raw_config), f"{path}.config", self.problems
            )
            configs[key] = config_value(schema, validated)
        return configs

    def execution(self, raw: Any) -> tuple[str, dict[str, Any]]:
        executor_def = self.job.executor_def or multi_or_in_process_executor
        entry = _mapping(raw, "execution", self.problems)
        _unknown_keys(entry, ["config"], "execution", self.problems)
        config = deep_merge(
            executor_def.config_defaults,
            _mapping(entry.get("config"), "execution.config", self.problems),
        )
        validated = _validate_model(
            executor_def.config_type(), config, "execution.config", self.problems
        )
        if validated is None:
            return "", {}
        return executor_def.resolve(validated)


def validate_run_config(
    job: JobDefinition, run_config: Mapping[str, Any] | None, in_process: bool = False
) -> ResolvedRunConfig:
    """Check a run config against a job; raise RunConfigError listing every problem."""
    raw = deep_merge(job.default_run_config, run_config or {})
    validator = _Validator(job, in_process)
    if not isinstance(run_config, (Mapping, type(None))):
        raise RunConfigError([f"run config: expected a mapping, got {run_config!r}"])
    _unknown_keys(raw, ["ops", "resources", "execution", "loggers"], "", validator.problems)
    validator.graph(job.graph, raw.get("ops"), "ops", "")
    resource_configs = validator.resources(raw.get("resources"))
    executor_class, executor_config = validator.execution(raw.get("execution"))
    _check_required_resources(job, validator)
    if validator.problems:
        raise RunConfigError(validator.problems)
    return ResolvedRunConfig(
        raw=raw,
        op_configs=validator.op_configs,
        op_inputs=validator.op_inputs,
        resource_configs=resource_configs,
        executor_class=executor_class,
        executor_config=executor_config,
    )


def _check_required_resources(job: JobDefinition, validator: _Validator) -> None:
    available = set(job_resource_defs(job, validator.in_process))
    for op in job.flat_ops.values():
        needed = set(op.op_def.required_resource_keys)
        needed.update(out.io_manager_key for out in op.op_def.outs.values())
        missing = needed - available
        if missing:
            validator.problems.append(
                f"op {op.handle!r} requires resources {sorted(missing)} that job "
                f"{job.name!r} does not provide (resource_defs has {sorted(available)})"
            )
