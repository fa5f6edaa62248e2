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
# opgraph's step priority when no tag sets one (0 least urgent, 9 most urgent).
DEFAULT_PRIORITY = 5
# RabbitMQ: each queue Q has a companion queue, Q's urgent lane, that every worker
# consuming Q also consumes (before Q) and that takes the messages above the default
# priority, re-published attempts among them (see `message_queue`).
URGENT_LANE_SUFFIX = ".urgent"


def is_redis(broker_url: str) -> bool:
    return urlparse(broker_url).scheme in ("redis", "rediss", "redis+socket")


def is_amqp(broker_url: str) -> bool:
    """RabbitMQ (py-amqp transport)."""
    return urlparse(broker_url).scheme in ("amqp", "amqps", "pyamqp")


# Spellings of one transport, and each one's default port.
_TRANSPORTS = {"amqp": "amqp", "amqps": "amqp", "pyamqp": "amqp", "redis": "redis"}
_TRANSPORTS |= {"rediss": "redis", "redis+socket": "redis+socket"}
_DEFAULT_PORTS = {"amqp": 5672, "redis": 6379}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def broker_identity(broker_url: str) -> str:
    """Which broker (and RabbitMQ vhost or Redis database) a URL names, without its
    credentials: two workers with equal identities see the same queues. Spellings of one
    address compare equal (`pyamqp://` and `amqp://`, `localhost` and `127.0.0.1`, a
    default port left out); two names of one host (a DNS name and its IP) do not."""
    url = urlparse(broker_url)
    transport = _TRANSPORTS.get(url.scheme, url.scheme)
    if transport == "redis+socket":
        return f"redis+socket://{url.path}?{url.query}"
    host = (url.hostname or "localhost").lower()
    host = "localhost" if host in _LOOPBACK else host
    try:
        port = url.port or _DEFAULT_PORTS.get(transport)
    except ValueError:  # not a number: the URL is wrong, and the worker's own error says so
        port = None
    path = url.path
    if transport == "amqp":
        path = path[1:] or "/"  # the vhost: `amqp://h//` and `amqp://h` both name "/"
    elif transport == "redis":
        path = path.strip("/") or "0"  # the database number
    return f"{transport}://{host}:{port}/{path}"


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
        "task_default_priority": DEFAULT_PRIORITY,
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

    Priorities: quorum queues take no `x-max-priority`, and 3.x ignores their messages'
    priority (a priority-9 message published behind 200 others came out last on 3.10.8);
    4.0 and later deliver priorities 5-9 and 0-4 two to one, so opgraph's default of 5
    is already "high" there. opgraph therefore maps its priorities onto two queues: the
    messages above the default go to the queue's urgent lane (`message_queue`), which
    workers consume beside the queue, so they wait behind no backlog on any version. A
    deployment that needs ten levels sets `task_create_missing_queue_type: classic` and
    `task_queue_max_priority: 9` in `celery.config_source` (classic queues are not
    replicated); the lanes stay, and each one orders its own messages."""
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


def uses_urgent_lanes(broker_url: str) -> bool:
    """Redis serves priorities itself (PRIORITY_STEPS); RabbitMQ's quorum queues do not."""
    return is_amqp(broker_url)


def urgent_lane(queue: str) -> str:
    return f"{queue}{URGENT_LANE_SUFFIX}"


def is_urgent_lane(queue: str) -> bool:
    return queue.endswith(URGENT_LANE_SUFFIX)


def lane_of(queue: str) -> str | None:
    """The queue whose urgent lane `queue` is, or None."""
    return queue[: -len(URGENT_LANE_SUFFIX)] if is_urgent_lane(queue) else None


def without_urgent_lanes(queues: list[str]) -> list[str]:
    """`queues` as people and metrics see them: a lane consumed with its queue counts with
    it (heartbeats, `opgraph workers list`); a lane consumed alone is listed."""
    listed = set(queues)
    return [q for q in queues if lane_of(q) not in listed]


def message_queue(queue: str, priority: int, broker_url: str) -> str:
    """The broker queue a step's message goes to: on RabbitMQ, a priority above the default
    sends it to `queue`'s urgent lane, which its workers serve ahead of the backlog."""
    if uses_urgent_lanes(broker_url) and priority > DEFAULT_PRIORITY:
        return urgent_lane(queue)
    return queue


def republished_priority(priority: int) -> int:
    """A lost attempt's new one goes one level up, and at least above the default: ahead of
    the steps published after the lost one was (on RabbitMQ: into the urgent lane)."""
    return max(priority + 1, DEFAULT_PRIORITY + 1)


def with_urgent_lanes(queues: list[str]) -> list[str]:
    """What a worker told to consume `queues` consumes on RabbitMQ: each queue's urgent
    lane first (the first consumer registered gets the first message a started worker
    takes), then the queues themselves."""
    lanes = [urgent_lane(q) for q in queues if not is_urgent_lane(q)]
    return list(dict.fromkeys([*lanes, *queues]))
