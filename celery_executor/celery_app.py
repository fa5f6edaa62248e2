"""The Celery app: `celery -A opgraph_celery worker -Q opgraph,io --concurrency 4`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from opgraph.instance import home_from_env
from opgraph.instance_config import load_instance_config
from opgraph.logs import add_log_context_provider, configure_logging, log_format
from opgraph_celery.config import CeleryConfig
from opgraph_celery.settings import celery_settings


def instance_celery_config(home: Path | None = None) -> CeleryConfig:
    """The instance's `celery:` section (this plugin's own, composed into instance.yaml)."""
    return load_instance_config(home or home_from_env()).section("celery", CeleryConfig)


def make_celery_app(config: CeleryConfig | None = None) -> Celery:
    """A Celery app configured from the instance's `celery:` section."""
    config = config or instance_celery_config()
    broker_url = os.environ.get("OPGRAPH_CELERY_BROKER_URL") or config.broker_url
    app = Celery("opgraph")
    app.conf.update(celery_settings(broker_url, config.default_queue, config.config_source))
    # warmup: pool processes set up storage and queued runs' jobs when they start
    app.conf.update(include=["opgraph_celery.tasks", "opgraph_celery.warmup"])
    return app


def _json_logging(**_: Any) -> None:
    configure_logging("worker")
    add_log_context_provider(_task_log_context)


def _task_log_context() -> dict[str, str]:
    """The run and step of the task this pool process runs (Celery's own lines too)."""
    from celery import current_task

    args = current_task.request.args if current_task else None
    first = args[0] if args else None
    if isinstance(first, dict):  # a step task's payload
        step = first.get("step") or {}
        return {"run_id": str(first.get("run_id")), "step_key": str(step.get("key"))}
    return {"run_id": first} if isinstance(first, str) else {}  # a run task: the run id


# OPGRAPH_LOG_FORMAT=json: a receiver of setup_logging replaces Celery's own log setup.
if log_format() == "json":
    setup_logging.connect(_json_logging, weak=False, dispatch_uid="opgraph-json-logs")
