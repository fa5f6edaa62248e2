"""Celery settings opgraph relies on: JSON only, late acks, one message prefetched.

Workers and run workers build the same app from the instance's `celery:` section, so a
worker needs nothing but OPGRAPH_HOME (or its instance.yaml) and the user code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

STEP_QUEUE = "opgraph"
RUNS_QUEUE = "runs"
STEP_TASK = "opgraph.execute_step"
RUN_TASK = "opgraph.run_worker"
# Redis redelivers an unacknowledged message after this long; an op that runs longer is
# delivered again, and the attempt claim drops the copy. Keep it above the longest op.
DEFAULT_VISIBILITY_TIMEOUT = 6 * 3600
PRIORITY_STEPS = list(range(10))


def is_redis(broker_url: str) -> bool:
    return urlparse(broker_url).scheme in ("redis", "rediss", "redis+socket")


def celery_settings(
    broker_url: str,
    default_queue: str = STEP_QUEUE,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "broker_url": broker_url,
        # Completion travels through the storage's event log, never through a backend.
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": default_queue,
        "task_create_missing_queues": True,
        "task_default_priority": 5,
        "worker_max_tasks_per_child": 10_000,
        "worker_max_memory_per_child": 400_000,  # KiB: recycle a child past ~400 MB
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {},
    }
    if is_redis(broker_url):
        settings["broker_transport_options"] = {
            "visibility_timeout": DEFAULT_VISIBILITY_TIMEOUT,
            "priority_steps": PRIORITY_STEPS,
            "sep": ":",
            "queue_order_strategy": "priority",
        }
    for key, value in (overrides or {}).items():
        if key == "broker_transport_options":
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    if settings["accept_content"] != ["json"] or settings["task_serializer"] != "json":
        raise ValueError(
            "celery.config_source may not change serializers: opgraph accepts only JSON "
            f"from the broker (got accept_content={settings['accept_content']!r})"
        )
    return settings


def redis_queue_keys(queue: str, sep: str = ":") -> list[str]:
    """The Redis lists holding a queue's messages: one per priority step (0 is the bare name)."""
    return [queue] + [f"{queue}{sep}{p}" for p in PRIORITY_STEPS if p]


def broker_priority(priority: int, broker_url: str) -> int:
    """opgraph priorities run 0 (least urgent) to 9 (most urgent), as in Dagster and AMQP;
    Celery's Redis transport serves 0 first, so the scale is flipped there."""
    clamped = max(0, min(9, priority))
    return 9 - clamped if is_redis(broker_url) else clamped
