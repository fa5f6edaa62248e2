"""`workersOrError`, `queuesOrError`, `drainWorker`: the worker fleets of the installed
executor plugins (the Celery one, `opgraph_celery.fleet.CeleryFleet`), through the core's
`WorkerFleet` port: the schema is the app's, the data the plugin's."""

from __future__ import annotations

from typing import Any

import graphene
from flask import current_app

from opgraph import plugins
from opgraph.ports import WorkerFleet, WorkerInfo

INSPECT_TIMEOUT_S = 1.0


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


class Queue(graphene.ObjectType):
    name = graphene.String(required=True)
    depth = graphene.Int(description="Messages waiting; null when the broker cannot say.")
    consumers = graphene.List(graphene.NonNull(graphene.String), required=True)


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
    return Queues(
        results=[q for fleet, workers in _workers(context) for q in fleet.queues(workers)]
    )


def drain_worker(context: Any, worker_name: str) -> list[str]:
    """The queues the named worker stopped consuming; empty if no fleet's worker answered."""
    for fleet in worker_fleets(context):
        queues = fleet.drain(worker_name)
        if queues:
            return queues
    return []
