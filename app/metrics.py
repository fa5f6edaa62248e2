"""`/metrics`: the instance's state for Prometheus, read from storage and the broker.

Nothing is counted in the webserver's memory: each scrape reads the shared storage (run
and step-attempt tables, heartbeats) and the broker (queue lengths), so every replica
answers the same and a restart loses nothing. Aggregate across replicas with `max`.

| metric | type | labels |
| --- | --- | --- |
| `opgraph_runs` | gauge | status |
| `opgraph_step_attempts` | gauge | queue, status |
| `opgraph_step_attempts_retried_total` | counter | |
| `opgraph_step_duration_seconds` | histogram | |
| `opgraph_step_dispatch_latency_seconds` | histogram (published -> started) | |
| `opgraph_celery_queue_depth` | gauge | queue |
| `opgraph_celery_queue_consumers` | gauge | queue |
| `opgraph_celery_workers` | gauge | |
| `opgraph_daemon_heartbeat_age_seconds` | gauge | daemon |
| `opgraph_broker_up` | gauge | |
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from opgraph.instance import OpgraphInstance
from opgraph_app.extension import current_instance
from opgraph_celery.config import instance_celery_section
from opgraph_storage.base import StorageError
from opgraph_storage.stats import Histogram, InstanceStats, instance_stats

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BROKER_CHECK_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2, "socket_timeout": 2}
WORKER_PREFIX = "celery_worker:"  # opgraph_celery.fleet.HEARTBEAT_PREFIX
# A worker beats every 10 s (opgraph_celery.fleet.HEARTBEAT_SECONDS); three missed: gone.
WORKER_ALIVE_SECONDS = 30.0

metrics_blueprint = Blueprint("metrics", __name__)


class InstanceCollector(Collector):
    def __init__(self, instance: OpgraphInstance, celery_app: Any):
        self.instance = instance
        self.celery_app = celery_app

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        stats = instance_stats(self.instance.storage, DURATION_BUCKETS, LATENCY_BUCKETS)
        yield from _storage_metrics(stats)
        beats = self.instance.storage.get_daemon_heartbeats()
        daemon_age = GaugeMetricFamily(
            "opgraph_daemon_heartbeat_age_seconds",
            "Seconds since each daemon part last wrote its heartbeat.",
            labels=["daemon"],
        )
        # Queues worth measuring: the default, those consumed, those with steps waiting
        # (a queue nobody consumes is the one an autoscaler must see).
        consumers: dict[str, int] = {self.celery_app.conf.task_default_queue: 0}
        for queue, status in stats.attempts_by_queue_status:
            if status == "QUEUED" and queue:
                consumers.setdefault(queue, 0)
        workers = 0
        for name, beat in sorted(beats.items()):
            if not name.startswith(WORKER_PREFIX):
                daemon_age.add_metric([name], max(0.0, now - beat.timestamp))
            elif now - beat.timestamp < WORKER_ALIVE_SECONDS:
                workers += 1
                for queue in beat.info.get("queues") or []:
                    consumers[queue] = consumers.get(queue, 0) + 1
        yield daemon_age
        yield GaugeMetricFamily(
            "opgraph_celery_workers", "Celery workers whose heartbeat is recent.", value=workers
        )
        yield from self._queue_metrics(consumers)

    def _queue_metrics(self, consumers: dict[str, int]) -> Iterator[Metric]:
        from opgraph_celery.fleet import queue_depths

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
            "Messages waiting in each queue (Redis brokers).",
            labels=["queue"],
        )
        try:
            depths = queue_depths(self.celery_app, sorted(consumers))
        except Exception:  # the broker is down: say so, and keep the storage figures
            yield GaugeMetricFamily("opgraph_broker_up", "Whether the broker answered.", value=0)
            return
        for queue, depth in sorted(depths.items()):
            if depth is not None:
                depth_gauge.add_metric([queue], depth)
        yield depth_gauge
        yield GaugeMetricFamily("opgraph_broker_up", "Whether the broker answered.", value=1)


def _storage_metrics(stats: InstanceStats) -> Iterator[Metric]:
    runs = GaugeMetricFamily("opgraph_runs", "Runs by status.", labels=["status"])
    for status, count in sorted(stats.runs_by_status.items()):
        runs.add_metric([status], count)
    yield runs
    attempts = GaugeMetricFamily(
        "opgraph_step_attempts",
        "Step attempts of the Celery executor by queue and status.",
        labels=["queue", "status"],
    )
    for (queue, status), count in sorted(stats.attempts_by_queue_status.items()):
        attempts.add_metric([queue, status], count)
    yield attempts
    yield CounterMetricFamily(
        "opgraph_step_attempts_retried",
        "Step attempts after a step's first (op retries and lost-worker retries).",
        value=stats.attempts_retried,
    )
    yield _histogram(
        "opgraph_step_duration_seconds",
        "Run time of finished step attempts (started -> ended).",
        stats.step_duration,
    )
    yield _histogram(
        "opgraph_step_dispatch_latency_seconds",
        "Time from publishing a step to a worker starting it.",
        stats.dispatch_latency,
    )


def _histogram(name: str, documentation: str, histogram: Histogram | None) -> Metric:
    buckets = [(_le(bound), count) for bound, count in (histogram.buckets if histogram else [])]
    return HistogramMetricFamily(
        name,
        documentation,
        buckets=buckets or [("+Inf", 0)],
        sum_value=histogram.total if histogram else 0.0,
    )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _celery_app(instance: OpgraphInstance) -> Any:
    """One Celery app per webserver process (it holds the broker connection pool)."""
    cached = current_app.extensions.get("opgraph_metrics_celery")
    if cached is None:
        from opgraph_celery.celery_app import make_celery_app

        cached = make_celery_app(instance_celery_section(instance))
        # A scrape must answer within Prometheus' timeout: a down broker fails at once.
        cached.conf.broker_transport_options = {
            **cached.conf.broker_transport_options,
            **BROKER_CHECK_OPTIONS,
        }
        current_app.extensions["opgraph_metrics_celery"] = cached
    return cached


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    instance = current_instance()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InstanceCollector(instance, _celery_app(instance)))
    try:
        body = generate_latest(registry)
    except StorageError as exc:
        return Response(f"storage unavailable: {exc}\n", status=503, mimetype="text/plain")
    return Response(body, content_type=CONTENT_TYPE_LATEST)
