"""The Celery plugin's configuration models: its instance.yaml section (`celery:`), its run
launcher's options (`run_launcher: {celery: {...}}`) and its executor's run config
(`execution: {config: {celery: {...}}}`). opgraph composes them in through the entry points
in setup.cfg; nothing here imports Celery."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

log = logging.getLogger("opgraph.config")


class CeleryConfig(BaseModel):
    """The Celery fleet: broker, queues and extra Celery settings (the `opgraph_celery`
    plugin)."""

    model_config = ConfigDict(extra="forbid")
    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL.")
    backend_url: str = Field("redis://127.0.0.1:6379/0", description="Celery result backend URL.")
    default_queue: str = Field(
        "opgraph", description="Queue step tasks go to unless an op's tags name another."
    )
    config_source: dict[str, Any] = Field(
        default_factory=dict, description="Extra Celery settings, applied with app.conf.update."
    )


class CeleryLauncherConfig(BaseModel):
    """Sends each run worker as a task to the Celery fleet (see the `celery` section). A run
    worker silent for the liveness grace is reported DEAD by health checks."""

    model_config = ConfigDict(extra="forbid")
    queue: str = Field("runs", min_length=1, description="Queue the run tasks go to.")
    heartbeat_timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="Deprecated: the liveness grace (`liveness.missed_heartbeats`) applies. "
        "Still honoured when given, with a warning.",
    )

    @field_validator("heartbeat_timeout_seconds")
    @classmethod
    def _deprecated(cls, value: float | None) -> float | None:
        if value is not None:
            log.warning(
                "instance.yaml: run_launcher.celery.heartbeat_timeout_seconds is deprecated; "
                "use liveness.missed_heartbeats (the grace is liveness.heartbeat_interval_seconds "
                "times missed_heartbeats)"
            )
        return value


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
    lost_message_timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="a step whose message left its queue this long ago, and that no worker "
        "claimed, is published again (default: liveness.step_unclaimed_timeout_seconds); one "
        "that no answering worker holds is published again sooner, after two looks at the fleet",
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


def instance_celery_section(instance: OpgraphInstance) -> CeleryConfig:
    """The instance's `celery:` section; its defaults where the config was built in code."""
    return instance.config.section("celery", CeleryConfig)
