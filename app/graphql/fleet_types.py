"""`workersOrError`, `queuesOrError`: the Celery fleet as the broker and heartbeats see it."""

from __future__ import annotations

from typing import Any

import graphene

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


def celery_app(instance: Any) -> Any:
    from opgraph_celery.celery_app import instance_celery_config, make_celery_app

    return make_celery_app(instance_celery_config(instance.home))


def _workers(context: Any) -> tuple[Any, list[Any]]:
    """The Celery app and the fleet, asked once per request (each ask waits on replies)."""
    from opgraph_celery.fleet import list_workers

    if "fleet" not in context.cache:
        app = celery_app(context.instance)
        context.cache["fleet"] = app, list_workers(app, context.instance.storage, INSPECT_TIMEOUT_S)
    return context.cache["fleet"]  # type: ignore[no-any-return]


def fleet_workers(context: Any) -> Workers:
    return Workers(results=_workers(context)[1])


def fleet_queues(context: Any) -> Queues:
    from opgraph_celery.fleet import list_queues

    app, workers = _workers(context)
    return Queues(results=list_queues(app, workers))
