"""`instance { ... }`: what this instance is made of, its run queue and daemon health."""

from __future__ import annotations

import time
from typing import Any

import graphene

from opgraph.daemon.supervision import part_state
from opgraph.instance import OpgraphInstance
from opgraph_app.graphql.fleet_types import worker_fleets
from opgraph_storage.urls import redact_url


class TagConcurrencyLimit(graphene.ObjectType):
    key = graphene.String(required=True)
    value = graphene.String()
    limit = graphene.Int(required=True)


class RunQueueConfig(graphene.ObjectType):
    max_concurrent_runs = graphene.Int(required=True, description="-1: no limit")
    tag_concurrency_limits = graphene.List(graphene.NonNull(TagConcurrencyLimit), required=True)
    dequeue_interval_seconds = graphene.Float(required=True)


class DaemonStatus(graphene.ObjectType):
    daemon_type = graphene.String(required=True)
    id = graphene.String(required=True)
    healthy = graphene.Boolean(required=True)
    last_heartbeat_time = graphene.Float(required=True)
    seconds_since_heartbeat = graphene.Float(required=True)
    last_heartbeat_errors = graphene.List(graphene.NonNull(graphene.String), required=True)
    state = graphene.String(
        required=True,
        description="running, restarting (its thread died and was restarted), failing (its "
        "last ticks raised), stale (no beat within staleAfterSeconds), failed (the daemon "
        "gave up its lease), standby, active",
    )
    interval_seconds = graphene.Float(description="How often the part ticks.")
    stale_after_seconds = graphene.Float(
        required=True,
        description="Its next beat is due within this long of the last one: its wait (the "
        "interval, or a backoff after failures) plus the liveness grace.",
    )
    consecutive_failures = graphene.Int(required=True, description="Failed ticks in a row.")
    restarts = graphene.Int(
        required=True, description="Times the daemon restarted the part's thread."
    )


class DaemonHealth(graphene.ObjectType):
    all_daemon_statuses = graphene.List(graphene.NonNull(DaemonStatus), required=True)

    @staticmethod
    def resolve_all_daemon_statuses(root: OpgraphInstance, info: Any) -> list[DaemonStatus]:
        """The daemon's parts; workers of a fleet heartbeat into the same table and are
        left out (see `workersOrError`)."""
        now = time.time()
        grace = root.config.liveness.grace_seconds
        fleets = worker_fleets(info.context)
        statuses = []
        for beat in sorted(root.storage.get_daemon_heartbeats().values(), key=_by_type):
            if any(fleet.owns_heartbeat(beat.daemon_type) for fleet in fleets):
                continue
            statuses.append(_status(beat, now, grace))
        return statuses


def _status(beat: Any, now: float, grace: float) -> DaemonStatus:
    """The same reading of a beat as `opgraph daemon status` (opgraph.daemon.supervision)."""
    part = part_state(beat, now, grace)
    return DaemonStatus(
        daemon_type=part.name,
        id=part.daemon_id,
        healthy=part.healthy,
        last_heartbeat_time=part.last_beat,
        seconds_since_heartbeat=part.age_seconds,
        last_heartbeat_errors=part.errors,
        state=part.state,
        interval_seconds=part.interval_seconds,
        stale_after_seconds=part.stale_after_seconds,
        consecutive_failures=part.consecutive_failures,
        restarts=part.restarts,
    )


def _by_type(beat: Any) -> str:
    return str(beat.daemon_type)


class Instance(graphene.ObjectType):
    info = graphene.String(required=True, description="Home, storage, coordinator, launcher.")
    storage = graphene.String(required=True, description="Storage URL, password hidden.")
    run_coordinator = graphene.String(required=True)
    run_launcher = graphene.String(required=True)
    run_queue_config = graphene.Field(
        RunQueueConfig, description="Null unless the queued run coordinator is in use."
    )
    daemon_health = graphene.Field(DaemonHealth, required=True)
    read_only = graphene.Boolean(required=True, description="Mutations are refused.")
    has_auth_token = graphene.Boolean(required=True, description="Mutations need a token.")

    @staticmethod
    def resolve_info(root: OpgraphInstance, _info: Any) -> str:
        rows = [
            ("home", str(root.home)),
            ("storage", Instance.resolve_storage(root, _info)),
            ("run_coordinator", Instance.resolve_run_coordinator(root, _info)),
            ("run_launcher", Instance.resolve_run_launcher(root, _info)),
            ("compute_logs", str(root.compute_logs_dir)),
        ]
        return "\n".join(f"{name}: {value}" for name, value in rows)

    @staticmethod
    def resolve_storage(root: OpgraphInstance, _info: Any) -> str:
        return redact_url(root.config.storage_url(root.home))

    @staticmethod
    def resolve_run_coordinator(root: OpgraphInstance, _info: Any) -> str:
        component = root.config.run_coordinator
        return f"{component.module}.{component.class_name}"

    @staticmethod
    def resolve_run_launcher(root: OpgraphInstance, _info: Any) -> str:
        component = root.config.run_launcher
        return f"{component.module}.{component.class_name}"

    @staticmethod
    def resolve_run_queue_config(root: OpgraphInstance, _info: Any) -> RunQueueConfig | None:
        queue = root.run_coordinator.queue_limits()
        if queue is None:
            return None
        limits = [
            TagConcurrencyLimit(key=limit.key, value=limit.value, limit=limit.limit)
            for limit in queue.tag_concurrency_limits
        ]
        return RunQueueConfig(
            max_concurrent_runs=queue.max_concurrent_runs,
            tag_concurrency_limits=limits,
            dequeue_interval_seconds=queue.dequeue_interval_seconds,
        )

    @staticmethod
    def resolve_daemon_health(root: OpgraphInstance, _info: Any) -> OpgraphInstance:
        return root

    @staticmethod
    def resolve_read_only(_root: OpgraphInstance, info: Any) -> bool:
        return bool(info.context.read_only)

    @staticmethod
    def resolve_has_auth_token(_root: OpgraphInstance, info: Any) -> bool:
        return bool(info.context.auth_token)
