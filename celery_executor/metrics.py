"""The Celery plugin's part of `/metrics` (entry point `opgraph.metrics`): workers, queue
depths and consumers, and whether the broker answers.

| metric | type | labels |
| --- | --- | --- |
| `opgraph_celery_queue_depth` | gauge | queue |
| `opgraph_celery_queue_consumers` | gauge | queue |
| `opgraph_celery_workers` | gauge | |
| `opgraph_broker_up` | gauge | |
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric

from opgraph_celery.fleet import HEARTBEAT_PREFIX, queue_depths

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance
    from opgraph_storage.stats import InstanceStats

BROKER_CHECK_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2, "socket_timeout": 2}


class CeleryMetrics:
    """Built once per webserver process: it holds the broker connection pool."""

    def __init__(self, instance: OpgraphInstance):
        self.instance = instance
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from opgraph_celery.celery_app import make_celery_app
            from opgraph_celery.config import instance_celery_section

            app = make_celery_app(instance_celery_section(self.instance))
            # A scrape must answer within Prometheus' timeout: a down broker fails at once.
            app.conf.broker_transport_options = {
                **app.conf.broker_transport_options,
                **BROKER_CHECK_OPTIONS,
            }
            self._app = app
        return self._app

    def owns_heartbeat(self, name: str) -> bool:
        """A Celery worker's heartbeat, not a daemon part's."""
        return name.startswith(HEARTBEAT_PREFIX)

    def collect(self, stats: InstanceStats) -> Iterator[Metric]:
        now = time.time()
        grace = self.instance.config.liveness.grace_seconds  # missed beats: gone
        # Queues worth measuring: the default, those consumed, those with steps waiting
        # (a queue nobody consumes is the one an autoscaler must see).
        consumers: dict[str, int] = {self.app.conf.task_default_queue: 0}
        for queue, status in stats.attempts_by_queue_status:
            if status == "QUEUED" and queue:
                consumers.setdefault(queue, 0)
        workers = 0
        for name, beat in self.instance.storage.get_daemon_heartbeats().items():
            if self.owns_heartbeat(name) and now - beat.timestamp < grace:
                workers += 1
                for queue in beat.info.get("queues") or []:
                    consumers[queue] = consumers.get(queue, 0) + 1
        yield GaugeMetricFamily(
            "opgraph_celery_workers", "Celery workers whose heartbeat is recent.", value=workers
        )
        yield from self._queue_metrics(consumers)

    def _queue_metrics(self, consumers: dict[str, int]) -> Iterator[Metric]:
        consumer_gauge = GaugeMetricFamily(
            "opgraph_celery_queue_consumers",
            "Live workers consuming each queue.",
            labels=["queue"],
        )
        for queue, count in sorted(consumers.items()):
            consumer_gauge.add_metric([queue], count)
        yield consumer_gauge
        depth_gauge = GaugeMetricFamily(
            "opgraph_celery_queue_depth",
            "Messages waiting in each queue (Redis: every priority level; RabbitMQ: ready).",
            labels=["queue"],
        )
        try:
            depths = queue_depths(self.app, sorted(consumers))
        except Exception:  # the broker is down: say so, and keep the storage figures
            yield GaugeMetricFamily("opgraph_broker_up", "Whether the broker answered.", value=0)
            return
        for queue, depth in sorted(depths.items()):
            if depth is not None:
                depth_gauge.add_metric([queue], depth)
        yield depth_gauge
        yield GaugeMetricFamily("opgraph_broker_up", "Whether the broker answered.", value=1)
