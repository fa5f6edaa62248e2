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
# A dead worker's message does not wait for it: lost_messages.py finds it in seconds.
DEFAULT_VISIBILITY_TIMEOUT = 6 * 3600
PRIORITY_STEPS = list(range(10))


def is_redis(broker_url: str) -> bool:
    return urlparse(broker_url).scheme in ("redis", "rediss", "redis+socket")


def is_amqp(broker_url: str) -> bool:
    """RabbitMQ (py-amqp transport)."""
    return urlparse(broker_url).scheme in ("amqp", "amqps", "pyamqp")


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
    elif is_amqp(broker_url):
        settings.update(amqp_settings())
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


def amqp_settings() -> dict[str, Any]:
    """RabbitMQ: quorum queues (replicated, and they count deliveries), publisher confirms,
    and late acks. A worker that dies closes its connection, and RabbitMQ puts its
    unacknowledged messages back at once (no visibility timeout as with Redis).

    Priorities: quorum queues take no `x-max-priority`. RabbitMQ 4.0 and later serve a
    quorum queue's messages of priority 5-9 before those of 0-4 (two levels); 3.x ignores
    the priority of a quorum queue's messages. A deployment that needs ten levels sets
    `task_create_missing_queue_type: classic` and `task_queue_max_priority: 9` in
    `celery.config_source` (classic queues are not replicated)."""
    return {
        "task_default_queue_type": "quorum",
        "task_create_missing_queue_type": "quorum",
        # Quorum queues refuse a global QoS; Celery then sets the prefetch per consumer.
        "worker_detect_quorum_queues": True,
        "broker_transport_options": {"confirm_publish": True},
    }


def redis_queue_keys(queue: str, sep: str = ":") -> list[str]:
    """The Redis lists holding a queue's messages: one per priority step (0 is the bare name)."""
    return [queue] + [f"{queue}{sep}{p}" for p in PRIORITY_STEPS if p]


def broker_priority(priority: int, broker_url: str) -> int:
    """opgraph priorities run 0 (least urgent) to 9 (most urgent), as in Dagster and AMQP;
    Celery's Redis transport serves 0 first, so the scale is flipped there."""
    clamped = max(0, min(9, priority))
    return 9 - clamped if is_redis(broker_url) else clamped
