"""Executor definitions: what a job or run config selects under `execution:`.

An executor definition names its config model and the class that runs steps, by import
path, so that defining a job never imports an executor's dependencies (e.g. Celery).
Executors of plugins are `opgraph.executors` entry points; each is also a key of the
default executor's config (`execution: {config: {celery: {...}}}`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from opgraph import plugins


class InProcessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retries: dict[str, Any] | None = Field(None, description="accepted for Dagster compatibility")


class MultiprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_concurrent: int | None = Field(
        None, ge=0, description="worker processes; 0 or unset means the number of CPUs"
    )
    retries: dict[str, Any] | None = Field(None, description="accepted for Dagster compatibility")


class MultiOrInProcessConfig(BaseModel):
    """The default executor's config: pick one of `in_process`, `multiprocess` or an
    installed executor plugin's name (see `multi_or_in_process_config`). Picking none
    runs a serial plan in the run worker's process and any other in the multiprocess
    pool (opgraph.executors.adaptive)."""

    model_config = ConfigDict(extra="forbid")
    in_process: InProcessConfig | None = None
    multiprocess: MultiprocessConfig | None = None

    @model_validator(mode="after")
    def _one_at_most(self) -> MultiOrInProcessConfig:
        chosen = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one executor, got {chosen}")
        return self

    def chosen(self) -> tuple[str, BaseModel] | None:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


def executor_plugins() -> dict[str, ExecutorDefinition]:
    """The executors installed plugins add (`opgraph.executors` entry points), by name."""
    loaded = plugins.load_all(plugins.EXECUTORS)
    for name, value in loaded.items():
        if not isinstance(value, ExecutorDefinition):
            raise plugins.PluginError(
                f"{plugins.EXECUTORS} plugin {name!r} names a {type(value).__name__}, "
                "expected an opgraph.executors.ExecutorDefinition"
            )
    return loaded


@cache
def multi_or_in_process_config() -> type[MultiOrInProcessConfig]:
    """MultiOrInProcessConfig with one optional key per executor plugin."""
    fields: dict[str, Any] = {
        name: (definition.config_model | None, None)
        for name, definition in executor_plugins().items()
    }
    model = create_model(_COMPOSED, __base__=MultiOrInProcessConfig, **fields)
    model.__module__ = __name__
    return model


_COMPOSED = "ComposedMultiOrInProcessConfig"


def __getattr__(name: str) -> Any:
    # Pickle finds the composed class by name.
    if name == _COMPOSED:
        return multi_or_in_process_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ExecutorDefinition:
    name: str
    config_model: type[BaseModel]
    executor_class: str  # "module:Class"; the class takes the config as keyword arguments
    config_defaults: dict[str, Any] = field(default_factory=dict)

    def config_type(self) -> type[BaseModel]:
        """The model `execution.config` is validated against."""
        if self.config_model is MultiOrInProcessConfig:
            return multi_or_in_process_config()  # with the installed executor plugins
        return self.config_model

    def resolve(self, config: BaseModel) -> tuple[str, dict[str, Any]]:
        """(executor class path, its config) for a validated `execution.config`."""
        if isinstance(config, MultiOrInProcessConfig):
            chosen = config.chosen()
            if chosen is None:  # nothing asked for: a pool only where it helps
                return DEFAULT_EXECUTOR_CLASS, MultiprocessConfig().model_dump()
            name, options = chosen
            if name == "in_process":
                return IN_PROCESS_EXECUTOR_CLASS, options.model_dump()
            if name == "multiprocess":
                return MULTIPROCESS_EXECUTOR_CLASS, options.model_dump()
            return executor_plugins()[name].executor_class, options.model_dump()
        return self.executor_class, config.model_dump()

    def configured(self, config: dict[str, Any]) -> ExecutorDefinition:
        """A copy whose config defaults are `config` (Dagster's `.configured`)."""
        self.config_type().model_validate(config)  # fail at definition time, not at launch
        return ExecutorDefinition(
            self.name, self.config_model, self.executor_class, {**self.config_defaults, **config}
        )


IN_PROCESS_EXECUTOR_CLASS = "opgraph.executors.in_process:InProcessExecutor"
MULTIPROCESS_EXECUTOR_CLASS = "opgraph.executors.multiprocess:MultiprocessExecutor"
DEFAULT_EXECUTOR_CLASS = "opgraph.executors.adaptive:AdaptiveExecutor"

in_process_executor = ExecutorDefinition("in_process", InProcessConfig, IN_PROCESS_EXECUTOR_CLASS)
multiprocess_executor = ExecutorDefinition(
    "multiprocess", MultiprocessConfig, MULTIPROCESS_EXECUTOR_CLASS
)
multi_or_in_process_executor = ExecutorDefinition(
    "multi_or_in_process", MultiOrInProcessConfig, MULTIPROCESS_EXECUTOR_CLASS
)


def load_executor(class_path: str, config: dict[str, Any]) -> Any:
    module_name, _, class_name = class_path.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**config)


def default_worker_count(max_concurrent: int | None) -> int:
    return max_concurrent or os.cpu_count() or 1
