"""Executor definitions: what a job or run config selects under `execution:`.

An executor definition names its config model and the class that runs steps, by
import path, so that opgraph never imports celery_executor (which imports Celery).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class InProcessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retries: dict[str, Any] | None = Field(None, description="accepted for Dagster compatibility")


class MultiprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_concurrent: int | None = Field(
        None, ge=0, description="worker processes; 0 or unset means the number of CPUs"
    )
    retries: dict[str, Any] | None = Field(None, description="accepted for Dagster compatibility")


class CeleryRunConfig(BaseModel):
    """The Celery executor's run config (broker defaults come from instance.yaml)."""

    model_config = ConfigDict(extra="forbid")
    broker_url: str | None = Field(None, description="overrides celery.broker_url of the instance")
    default_queue: str | None = Field(
        None, description="queue for ops without a celery/queue tag (default: the instance's)"
    )
    max_in_flight: int = Field(500, ge=1, description="steps published but not finished, at most")
    heartbeat_timeout_seconds: float = Field(
        20, gt=0, description="a running attempt silent this long is lost and retried"
    )
    no_consumer_timeout_seconds: float = Field(
        60, gt=0, description="a step queued this long on a queue nobody consumes fails"
    )
    lost_message_timeout_seconds: float = Field(
        120,
        gt=0,
        description="a step queued this long whose message Redis no longer holds is published again",
    )
    max_infra_retries: int = Field(
        2, ge=0, description="new attempts after a worker was lost, before the step fails"
    )
    cancel_timeout_seconds: float = Field(
        30, gt=0, description="how long a cancel waits for running ops to stop"
    )
    config_source: dict[str, Any] = Field(
        default_factory=dict, description="extra Celery settings (serializers stay JSON)"
    )


class MultiOrInProcessConfig(BaseModel):
    """The default executor's config: pick one of `in_process`, `multiprocess`, `celery`."""

    model_config = ConfigDict(extra="forbid")
    in_process: InProcessConfig | None = None
    multiprocess: MultiprocessConfig | None = None
    celery: CeleryRunConfig | None = None

    @model_validator(mode="after")
    def _one_at_most(self) -> MultiOrInProcessConfig:
        chosen = [k for k in ("in_process", "multiprocess", "celery") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"choose one executor, got {chosen}")
        return self


@dataclass(frozen=True)
class ExecutorDefinition:
    name: str
    config_model: type[BaseModel]
    executor_class: str  # "module:Class"; the class takes the config as keyword arguments
    config_defaults: dict[str, Any] = field(default_factory=dict)

    def resolve(self, config: BaseModel) -> tuple[str, dict[str, Any]]:
        """(executor class path, its config) for a validated `execution.config`."""
        if isinstance(config, MultiOrInProcessConfig):
            if config.celery is not None:
                return CELERY_EXECUTOR_CLASS, config.celery.model_dump()
            if config.in_process is not None:
                return IN_PROCESS_EXECUTOR_CLASS, config.in_process.model_dump()
            chosen = config.multiprocess or MultiprocessConfig()
            return MULTIPROCESS_EXECUTOR_CLASS, chosen.model_dump()
        return self.executor_class, config.model_dump()

    def configured(self, config: dict[str, Any]) -> ExecutorDefinition:
        """A copy whose config defaults are `config` (Dagster's `.configured`)."""
        self.config_model.model_validate(config)  # fail at definition time, not at launch
        return ExecutorDefinition(
            self.name, self.config_model, self.executor_class, {**self.config_defaults, **config}
        )


IN_PROCESS_EXECUTOR_CLASS = "opgraph.executors.in_process:InProcessExecutor"
MULTIPROCESS_EXECUTOR_CLASS = "opgraph.executors.multiprocess:MultiprocessExecutor"
CELERY_EXECUTOR_CLASS = "opgraph_celery.executor:CeleryExecutor"

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
