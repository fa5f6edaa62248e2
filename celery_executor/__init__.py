"""Run each op of a run as a Celery task on a fleet of workers.

    from opgraph_celery import celery_executor      # @job(executor_def=celery_executor)
    celery -A opgraph_celery worker -Q opgraph       # start a worker

The Celery app is built on first use from the instance's `celery:` section, so importing
this package in a job file costs nothing and reads no config.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from opgraph.executors.definitions import ExecutorDefinition
from opgraph_celery.config import CeleryRunConfig

# Also the `opgraph.executors` entry point `celery`: `execution: {config: {celery: {...}}}`.
celery_executor = ExecutorDefinition(
    "celery", CeleryRunConfig, f"{__name__}.executor:CeleryExecutor"
)


@cache
def get_app() -> Any:
    from opgraph_celery.celery_app import make_celery_app

    return make_celery_app()


def __getattr__(name: str) -> Any:
    # `celery -A opgraph_celery` looks up `app` (or `celery`) on this module.
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(f"module 'celery_executor' has no attribute {name!r}")


__all__ = ["celery_executor", "get_app"]
