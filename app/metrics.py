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
| `opgraph_daemon_heartbeat_age_seconds` | gauge | daemon |

and whatever installed plugins add (`opgraph.metrics` entry points; the Celery plugin's
queue depths, consumers, workers and broker state are in `opgraph_celery.metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from opgraph import plugins
from opgraph.instance import OpgraphInstance
from opgraph.ports import MetricsSource
from opgraph_app.extension import current_instance
from opgraph_storage.base import StorageError
from opgraph_storage.stats import Histogram, InstanceStats, instance_stats

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
metrics_blueprint = Blueprint("metrics", __name__)


class InstanceCollector(Collector):
    def __init__(self, instance: OpgraphInstance, sources: list[MetricsSource]):
        self.instance = instance
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        stats = instance_stats(self.instance.storage, DURATION_BUCKETS, LATENCY_BUCKETS)
        yield from _storage_metrics(stats)
        daemon_age = GaugeMetricFamily(
            "opgraph_daemon_heartbeat_age_seconds",
            "Seconds since each daemon part last wrote its heartbeat.",
            labels=["daemon"],
        )
        for name, beat in sorted(self.instance.storage.get_daemon_heartbeats().items()):
            if not any(source.owns_heartbeat(name) for source in self.sources):
                daemon_age.add_metric([name], max(0.0, now - beat.timestamp))
        yield daemon_age
        for source in self.sources:
            yield from source.collect(stats)


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


def _sources(instance: OpgraphInstance) -> list[MetricsSource]:
    """The plugins' metrics, built once per webserver process (they hold broker pools)."""
    cached = current_app.extensions.get("opgraph_metrics_sources")
    if cached is None:
        builders = plugins.load_all(plugins.METRICS)
        cached = [build(instance) for build in builders.values()]
        current_app.extensions["opgraph_metrics_sources"] = cached
    return cached  # type: ignore[no-any-return]


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    instance = current_instance()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InstanceCollector(instance, _sources(instance)))
    try:
        body = generate_latest(registry)
    except StorageError as exc:
        return Response(f"storage unavailable: {exc}\n", status=503, mimetype="text/plain")
    return Response(body, content_type=CONTENT_TYPE_LATEST)
