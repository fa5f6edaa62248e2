"""`workersOrError`, `queuesOrError`, `drainWorker`: the worker fleets of the installed
executor plugins (the Celery one, `opgraph_celery.fleet.CeleryFleet`), through the core's
`WorkerFleet` port: the schema is the app's, the data the plugin's. A queue's throughput
(steps finished per minute) is the core's: it is read from the step attempts in storage."""

from __future__ import annotations

import time
from typing import Any

import graphene
from flask import current_app
from graphql import GraphQLError

from opgraph import plugins
from opgraph.ports import WorkerFleet, WorkerInfo

INSPECT_TIMEOUT_S = 1.0
# A day at most, in at most 240 bars: a sparkline is a few hundred pixels wide.
MAX_THROUGHPUT_WINDOW_S = 24 * 3600
MAX_THROUGHPUT_BUCKETS = 240


class ActiveOp(graphene.ObjectType):
    run_id = graphene.String(required=True)
    step_key = graphene.String(required=True)
    attempt_id = graphene.String(required=True)
    start_time = graphene.Float()

    @staticmethod
    def resolve_start_time(root: Any, _info: Any) -> float | None:
        return root.started_at


class Worker(graphene.ObjectType):
    name = graphene.String(required=True, description="Celery node name, e.g. w1@host")
    queues = graphene.List(graphene.NonNull(graphene.String), required=True)
    concurrency = graphene.Int()
    pid = graphene.Int()
    active = graphene.List(graphene.NonNull(ActiveOp), required=True)
    last_heartbeat = graphene.Float()
    responding = graphene.Boolean(required=True, description="Answered the inspect call.")


class Workers(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(Worker), required=True)


class QueueThroughput(graphene.ObjectType):
    """Steps that finished (in any final status) on one queue, per window of time."""

    since = graphene.Float(required=True, description="Start of the first window (Unix s).")
    bucket_seconds = graphene.Int(required=True)
    finished = graphene.List(
        graphene.NonNull(graphene.Int), required=True, description="Per window, oldest first."
    )


class Queue(graphene.ObjectType):
    name = graphene.String(required=True)
    depth = graphene.Int(description="Messages waiting; null when the broker cannot say.")
    consumers = graphene.List(graphene.NonNull(graphene.String), required=True)
    throughput = graphene.Field(
        graphene.NonNull(QueueThroughput),
        window_seconds=graphene.Int(default_value=3600),
        bucket_seconds=graphene.Int(default_value=60),
        description="Steps finished on this queue per bucket over the last windowSeconds "
        f"(at most {MAX_THROUGHPUT_BUCKETS} buckets; read once for every queue listed).",
    )

    @staticmethod
    def resolve_throughput(
        root: Any, info: Any, window_seconds: int = 3600, bucket_seconds: int = 60
    ) -> QueueThroughput:
        for argument, value in (
            ("windowSeconds", window_seconds),
            ("bucketSeconds", bucket_seconds),
        ):
            if not 1 <= value <= MAX_THROUGHPUT_WINDOW_S:
                raise GraphQLError(  # a bad argument: its message names only what was given
                    f"{argument}: expected an integer from 1 to {MAX_THROUGHPUT_WINDOW_S}, "
                    f"given {value}"
                )
        buckets = -(-window_seconds // bucket_seconds)
        if buckets > MAX_THROUGHPUT_BUCKETS:
            raise GraphQLError(
                f"windowSeconds / bucketSeconds: {window_seconds} / {bucket_seconds} makes "
                f"{buckets} buckets; expected at most {MAX_THROUGHPUT_BUCKETS} (use wider buckets)"
            )
        cache, key = info.context.cache, f"throughput:{window_seconds}:{bucket_seconds}"
        if key not in cache:
            # The current bucket ends now: its bar grows as steps finish.
            since = time.time() - buckets * bucket_seconds
            names = cache.get("queue_names") or [root.name]
            counts = info.context.instance.storage.get_step_throughput(
                names, since, bucket_seconds, buckets
            )
            cache[key] = (since, counts)
        since, counts = cache[key]
        finished = counts.get(root.name)
        if finished is None:  # a queue the batch did not hold
            finished = info.context.instance.storage.get_step_throughput(
                [root.name], since, bucket_seconds, buckets
            )[root.name]
        return QueueThroughput(since=since, bucket_seconds=bucket_seconds, finished=finished)


class Queues(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(Queue), required=True)


def worker_fleets(context: Any) -> list[WorkerFleet]:
    """Every installed plugin's fleet (`opgraph.worker_fleets`), built once per webserver
    process: a fleet holds its broker connections."""
    extensions = current_app.extensions
    if "opgraph_worker_fleets" not in extensions:
        builders = plugins.load_all(plugins.WORKER_FLEETS)
        extensions["opgraph_worker_fleets"] = [
            build(context.instance) for build in builders.values()
        ]
    return extensions["opgraph_worker_fleets"]  # type: ignore[no-any-return]


def _workers(context: Any) -> list[tuple[WorkerFleet, list[WorkerInfo]]]:
    """Each fleet and its workers, asked once per request (each ask waits on replies)."""
    if "fleet" not in context.cache:
        context.cache["fleet"] = [
            (fleet, fleet.workers(INSPECT_TIMEOUT_S)) for fleet in worker_fleets(context)
        ]
    return context.cache["fleet"]  # type: ignore[no-any-return]


def fleet_workers(context: Any) -> Workers:
    return Workers(results=[worker for _, workers in _workers(context) for worker in workers])


def fleet_queues(context: Any) -> Queues:
    results = [q for fleet, workers in _workers(context) for q in fleet.queues(workers)]
    context.cache["queue_names"] = [q.name for q in results]  # one throughput read for all
    return Queues(results=results)


def drain_worker(context: Any, worker_name: str) -> list[str]:
    """The queues the named worker stopped consuming; empty if no fleet's worker answered."""
    for fleet in worker_fleets(context):
        queues = fleet.drain(worker_name)
        if queues:
            return queues
    return []
