"""Watching and steering the worker fleet: who runs what, queue depths, draining.

`CeleryFleet` is this plugin's `opgraph.ports.WorkerFleet` (entry point
`opgraph.worker_fleets`): the webserver's `workersOrError`, `queuesOrError` and
`drainWorker` ask it without knowing it is Celery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from opgraph.ports import ActiveOp, QueueInfo, WorkerFleet, WorkerInfo
from opgraph_celery.settings import (
    is_amqp,
    is_redis,
    is_urgent_lane,
    redis_queue_keys,
    urgent_lane,
    without_urgent_lanes,
)
from opgraph_storage.records import DaemonHeartbeat

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance
    from opgraph_storage.sessions import HeldSession

HEARTBEAT_PREFIX = "celery_worker:"
# In a worker's heartbeat: the token of the database session its main process holds.
SESSION_KEY = "session"
# In a worker's heartbeat: the broker it consumes from (settings.broker_identity, no
# credentials). A run worker on another broker cannot reach it (live_workers.py).
BROKER_KEY = "broker"
# How often the heartbeat thread checks that the server still holds its session (a
# poll of the socket, no round trip).
SESSION_CHECK_SECONDS = 1.0
# A worker that stopped answering stays listed this long after its last beat (a stopped
# or killed one: its row stays in storage): long enough to see what a crash took away,
# short enough that a fleet scaled up and down does not list every worker it ever had.
SILENT_LISTED = 600.0


def _active_op(request: dict[str, Any]) -> ActiveOp | None:
    args = request.get("args") or []
    payload = args[0] if args and isinstance(args[0], dict) else None
    if payload is None:
        return None
    step = payload.get("step") or {}
    return ActiveOp(
        run_id=str(payload.get("run_id")),
        step_key=str(step.get("key")),
        attempt_id=str(request.get("id")),
        started_at=request.get("time_start"),
    )


def list_workers(
    app: Any, storage: Any, timeout: float = 1.0, silent_for_at_most: float | None = SILENT_LISTED
) -> list[WorkerInfo]:
    """Every worker that answers, plus those that did not answer whose heartbeat is at
    most `silent_for_at_most` seconds old (None: every heartbeat on record, a fleet's
    whole history). A worker's queues are those it was told to consume: the urgent lanes
    it consumes beside them on RabbitMQ (settings.urgent_lane) count with their queue
    (`queue_depths`)."""
    # Three broadcasts, each waiting `timeout` for replies: asked at once, not in turn.
    inspect = app.control.inspect(timeout=timeout)
    with ThreadPoolExecutor(max_workers=3) as pool:
        asked = [
            pool.submit(call) for call in (inspect.stats, inspect.active, inspect.active_queues)
        ]
        stats, active, queues = ((answer.result() or {}) for answer in asked)
    beats = {
        hb.daemon_id: hb
        for name, hb in storage.get_daemon_heartbeats().items()
        if name.startswith(HEARTBEAT_PREFIX)
    }
    now = time.time()
    silent = {
        name
        for name, hb in beats.items()
        if silent_for_at_most is None or now - hb.timestamp <= silent_for_at_most
    }
    workers = []
    for name in sorted(set(stats) | set(active) | set(queues) | silent):
        stat = stats.get(name) or {}
        beat = beats.get(name)
        workers.append(
            WorkerInfo(
                name=name,
                queues=sorted(without_urgent_lanes([q["name"] for q in queues.get(name, [])])),
                concurrency=(stat.get("pool") or {}).get("max-concurrency"),
                pid=stat.get("pid"),
                active=[op for op in map(_active_op, active.get(name, [])) if op],
                last_heartbeat=beat.timestamp if beat else None,
                responding=name in stats,
            )
        )
    return workers


def queue_depths(app: Any, names: list[str]) -> dict[str, int | None]:
    """Messages waiting per queue (Redis: every priority list of the queue; RabbitMQ: the
    messages ready in the queue and in its urgent lane, not those delivered and
    unacknowledged): what an autoscaler reads."""
    broker_url = app.conf.broker_url
    if is_amqp(broker_url):
        lanes = {name: urgent_lane(name) for name in names if not is_urgent_lane(name)}
        counts = amqp_queue_counts(app, sorted(set(names) | set(lanes.values())))
        return {
            name: counts[name][0] + (counts[lanes[name]][0] if name in lanes else 0)
            for name in names
        }
    if not is_redis(broker_url):
        return dict.fromkeys(names)
    sep = app.conf.broker_transport_options.get("sep", ":")
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        depths: dict[str, int | None] = {}
        for name in names:
            pipe = client.pipeline()
            for key in redis_queue_keys(name, sep):
                pipe.llen(key)
            depths[name] = sum(pipe.execute())
    return depths


def amqp_queue_counts(app: Any, names: list[str]) -> dict[str, tuple[int, int]]:
    """(messages ready, consumers) per RabbitMQ queue, by a passive declare: it reads and
    never creates. A queue that does not exist yet holds nothing and has no consumer."""
    counts: dict[str, tuple[int, int]] = {}
    with app.connection_for_read() as connection:
        channel = connection.channel()
        try:
            for name in names:
                try:
                    ok = channel.queue_declare(queue=name, passive=True)
                except connection.channel_errors:  # 404 NOT_FOUND closes the channel
                    counts[name] = (0, 0)
                    channel = connection.channel()
                    continue
                counts[name] = (ok.message_count, ok.consumer_count)
        finally:
            channel.close()
    return counts


def list_queues(
    app: Any, workers: list[WorkerInfo], extra: list[str] | None = None
) -> list[QueueInfo]:
    consumers: dict[str, list[str]] = {name: [] for name in extra or []}
    consumers.setdefault(app.conf.task_default_queue, [])
    for worker in workers:
        for queue in worker.queues:
            consumers.setdefault(queue, []).append(worker.name)
    depths = queue_depths(app, sorted(consumers))
    return [QueueInfo(name, depths.get(name), sorted(c)) for name, c in sorted(consumers.items())]


def ping(app: Any, timeout: float = 1.0) -> dict[str, float]:
    """Round-trip milliseconds per worker that answered."""
    started = time.perf_counter()
    replies = app.control.ping(timeout=timeout) or []
    elapsed = (time.perf_counter() - started) * 1000
    return {name: elapsed for reply in replies for name in reply}


def drain(app: Any, node: str, timeout: float = 2.0) -> list[str]:
    """Stop `node` consuming every queue, urgent lanes included; it finishes the ops it is
    running. Returns the queues it stopped consuming (empty if the worker did not answer)."""
    replies = app.control.inspect(destination=[node], timeout=timeout).active_queues() or {}
    queues = [q["name"] for q in replies.get(node, [])]
    for queue in queues:
        app.control.cancel_consumer(queue, destination=[node], reply=True, timeout=timeout)
    return without_urgent_lanes(queues)


class WorkerHeartbeat:
    """The worker's main process writes where it is and what it consumes every
    `liveness.heartbeat_interval_seconds`."""

    def __init__(
        self,
        storage: Any,
        node: str,
        info: dict[str, Any],
        interval_seconds: float,
        current_queues: Callable[[], list[str]] | None = None,
    ):
        self.storage = storage
        self.node = node
        self.info = info
        # Read at every beat: a drain (cancel_consumer) stops a queue after the start, and
        # the executor counts a queue as consumed by the workers whose beat lists it.
        self.current_queues = current_queues
        self.interval_seconds = interval_seconds  # liveness.heartbeat_interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="opgraph-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        # The session ends the moment this process dies, so run workers need not wait for
        # the beat to age (live_workers.py). One the server ended (a database restart, a
        # cut link) is opened again within a second, and beaten at once with its new
        # token: until then this live worker counts as dead.
        session: HeldSession | None = None
        next_beat = 0.0
        while True:
            if session is not None and not session.is_open():
                session.close()
                session = None
            if session is None:
                try:
                    session = self.storage.hold_session()
                    next_beat = 0.0
                except Exception:  # storage down: tried again in a second
                    pass
            if time.monotonic() >= next_beat:
                try:
                    self._beat(session)
                    next_beat = time.monotonic() + self.interval_seconds
                except Exception:  # storage down: the next beat may work
                    next_beat = time.monotonic() + min(self.interval_seconds, SESSION_CHECK_SECONDS)
            wait = min(SESSION_CHECK_SECONDS, max(0.0, next_beat - time.monotonic()))
            if self._stop.wait(wait):
                return

    def _beat(self, session: HeldSession | None) -> None:
        info = self.info
        if self.current_queues is not None:
            info = {**info, "queues": self.current_queues()}
        # A lane counts with its queue (live_workers.LiveWorkers.consuming).
        info = {**info, "queues": without_urgent_lanes(list(info.get("queues") or []))}
        if session is not None:
            info = {**info, SESSION_KEY: session.token}
        self.storage.add_daemon_heartbeat(
            DaemonHeartbeat(f"{HEARTBEAT_PREFIX}{self.node}", self.node, time.time(), info)
        )


class CeleryFleet(WorkerFleet):
    """The instance's Celery workers; the Celery app (and its broker pool) is built on
    first use and kept for the life of the webserver process."""

    def __init__(self, instance: OpgraphInstance):
        self.instance = instance
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from opgraph_celery.celery_app import make_celery_app
            from opgraph_celery.config import instance_celery_section

            self._app = make_celery_app(instance_celery_section(self.instance))
        return self._app

    def workers(self, timeout: float) -> list[WorkerInfo]:
        return list_workers(self.app, self.instance.storage, timeout)

    def queues(self, workers: list[WorkerInfo]) -> list[QueueInfo]:
        return list_queues(self.app, workers)

    def drain(self, worker_name: str) -> list[str] | None:
        return drain(self.app, worker_name)

    def owns_heartbeat(self, name: str) -> bool:
        return name.startswith(HEARTBEAT_PREFIX)
