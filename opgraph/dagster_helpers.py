"""Small Dagster helpers job files and their tests import: loggers, values resources,
`build_resources`, `with_resources`, `validate_run_config`, `instance_for_test`...

Each is a thin shape over what opgraph already does, so that the Dagster call works as is.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from opgraph.config_types import Permissive
from opgraph.resources import (
    InitResourceContext,
    ResourceDefinition,
    Resources,
    as_resource_definition,
)
from opgraph.resources import build_resources as _build_resources
from opgraph_storage.records import RunStatus


def get_dagster_logger(name: str | None = None) -> logging.Logger:
    """A logger under `opgraph.user`; opgraph's log handlers (JSON lines, run context) apply."""
    return logging.getLogger("opgraph.user" + (f".{name}" if name else ""))


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of a data quality check an op made (logged with `context.log_event`)."""

    success: bool
    label: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class _ResourceParamMarker:
    def __repr__(self) -> str:
        return "ResourceParam"


RESOURCE_PARAM = _ResourceParamMarker()


class ResourceParam:
    """`def my_op(client: ResourceParam[Client])`: the parameter is the resource named
    like it (a plain object given in `resource_defs`, not a ConfigurableResource)."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, RESOURCE_PARAM]


def make_values_resource(**fields: Any) -> ResourceDefinition:
    """A resource whose value is its own config (shared values for several ops)."""
    schema = fields if fields else Permissive()
    return ResourceDefinition(lambda context: context.resource_config, config_schema=schema)


@contextmanager
def build_resources(
    resources: Mapping[str, Any],
    instance: Any = None,
    resource_config: Mapping[str, Any] | None = None,
) -> Iterator[Resources]:
    """Build resources outside a run (tests, scripts); torn down when the block exits.

    `resource_config` maps a key to that resource's config (Dagster's shape)."""
    from opgraph.config import config_value, raw_for_model
    from opgraph.errors import RunConfigError
    from opgraph.resources import resource_config_schema
    from opgraph.run_config import _validate_model

    problems: list[str] = []
    checked: dict[str, Any] = {}
    for key, definition in resources.items():
        raw = (resource_config or {}).get(key)
        schema = resource_config_schema(definition)
        if schema.model is None:  # a ConfigurableResource checks its own fields when built
            checked[key] = raw
            continue
        path = f"resources.{key}.config"
        validated = _validate_model(schema.model, raw_for_model(schema, raw), path, problems)
        checked[key] = config_value(schema, validated)
    if problems:
        raise RunConfigError(problems)
    with _build_resources(dict(resources), checked, instance) as built:
        yield built


def with_resources(
    definitions: Iterable[Any],
    resource_defs: Mapping[str, Any],
    resource_config_by_key: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Each job with these resources bound (its own resources win, as in Dagster)."""
    bound = {key: as_resource_definition(value) for key, value in resource_defs.items()}
    for key, config in (resource_config_by_key or {}).items():
        definition = bound.get(key)
        if isinstance(definition, ResourceDefinition):
            given = config.get("config") if isinstance(config, Mapping) else config
            bound[key] = _configured(definition, given)
    return [d.with_resources(bound) for d in definitions]


def _configured(definition: ResourceDefinition, config: Any) -> ResourceDefinition:
    """The resource built with this config, whatever the run config says."""

    def build(context: InitResourceContext) -> Any:
        return definition.resource_fn(replace(context, resource_config=config))

    return ResourceDefinition(build, description=definition.description)


def validate_run_config(job_def: Any, run_config: Mapping[str, Any] | None = None) -> dict:
    """The run config with the job's defaults merged in; raises DagsterInvalidConfigError
    (opgraph's RunConfigError) listing every problem by path."""
    from opgraph.run_config import validate_run_config as validate

    return validate(job_def, run_config).raw


@contextmanager
def instance_for_test(
    overrides: Mapping[str, Any] | None = None, temp_dir: str | None = None
) -> Iterator[Any]:
    """A throwaway instance (SQLite in a temporary directory), removed afterwards."""
    from opgraph.instance import OpgraphInstance

    if overrides:
        raise ValueError(
            "instance_for_test(overrides=...): opgraph's instance config is instance.yaml; "
            "write one in a temporary directory and use OpgraphInstance.get(home)"
        )
    home = temp_dir or tempfile.mkdtemp(prefix="opgraph-test-")
    instance = OpgraphInstance.ephemeral(home)
    try:
        yield instance
    finally:
        if temp_dir is None:
            shutil.rmtree(home, ignore_errors=True)


def file_relative_path(dunderfile: str, relative_path: str) -> str:
    """A path relative to the directory of the file `__file__` names."""
    return os.path.join(os.path.dirname(dunderfile), relative_path)


# Dagster's name for a run's status; the members are opgraph's (QUEUED, STARTED, SUCCESS...).
DagsterRunStatus = RunStatus
