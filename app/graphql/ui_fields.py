"""Fields the web UI needs beyond the run API: which daemon holds the lease, a cheap
"have the runs changed?" mark for pages that keep themselves fresh, and the deployment
page's actions (reload a code location, drain a worker).

Like every mutation the actions first ask the context whether this request may change
anything (read-only mode, bearer token) and answer typed errors, never a 500.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import graphene

from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import require_workspace
from opgraph_app.graphql.errors import check_mutation_allowed, typed_errors
from opgraph_app.graphql.fleet_types import drain_worker
from opgraph_app.graphql.ui_config import UiConfigQuery
from opgraph_app.graphql.unions import or_error
from opgraph_app.graphql.workspace_types import CodeLocationEntry
from opgraph_storage.records import LIVE_STATUSES, RunsFilter

# Live runs named in the change mark, at most: more than this many live runs and a status
# change among the others goes unseen until the newest run or this set changes.
LIVE_RUNS_WATCHED = 200


class DaemonLease(graphene.ObjectType):
    """Which daemon is active: the holder of the lease until it expires (it renews)."""

    holder = graphene.String(required=True, description="The active daemon's id.")
    host = graphene.String(required=True)
    pid = graphene.Int(required=True)
    acquired_at = graphene.Float(required=True)
    renewed_at = graphene.Float(required=True)
    expires_at = graphene.Float(required=True)
    generation = graphene.Int(
        required=True, description="Grows whenever another daemon takes over."
    )


class RunsChange(graphene.ObjectType):
    """What a page compares with its last look to know whether to read its runs again."""

    newest_run_id = graphene.String(description="The run created last; null: no runs.")
    live_mark = graphene.String(
        required=True,
        description="Changes whenever a live run (not started, queued, starting, started, "
        "canceling) appears, changes status or finishes.",
    )


class UiQuery(UiConfigQuery):
    daemon_lease = graphene.Field(
        DaemonLease, description="The active daemon; null when no daemon holds the lease."
    )
    runs_change = graphene.Field(
        RunsChange,
        required=True,
        description="A cheap mark of the runs' state (two indexed reads), polled by pages "
        "that keep themselves fresh instead of reading their whole data every second.",
    )

    @staticmethod
    def resolve_runs_change(_root: Any, info: Any) -> RunsChange:
        storage = info.context.instance.storage
        newest = storage.get_runs(limit=1)
        live = storage.get_runs(RunsFilter(statuses=sorted(LIVE_STATUSES)), limit=LIVE_RUNS_WATCHED)
        digest = hashlib.sha1(usedforsecurity=False)
        for run in live:
            digest.update(f"{run.run_id}:{run.status.value};".encode())
        return RunsChange(
            newest_run_id=newest[0].run_id if newest else None,
            live_mark=f"{len(live)}:{digest.hexdigest()[:16]}",
        )

    @staticmethod
    def resolve_daemon_lease(_root: Any, info: Any) -> Any:
        from opgraph.daemon.controller import LEASE_NAME

        lease = info.context.instance.storage.get_lease(LEASE_NAME)
        return lease if lease is not None and lease.expires_at > time.time() else None


class ReloadLocationSuccess(graphene.ObjectType):
    location = graphene.Field(CodeLocationEntry, required=True)


class DrainWorkerSuccess(graphene.ObjectType):
    worker_name = graphene.String(required=True)
    queues = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Queues the worker stopped consuming.",
    )


ReloadLocationResult = or_error(
    "ReloadLocationResult",
    ReloadLocationSuccess,
    e.LocationNotFoundError,
    e.WorkspaceNotConfiguredError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
DrainWorkerResult = or_error(
    "DrainWorkerResult",
    DrainWorkerSuccess,
    e.InvalidArgumentError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)


class ReloadLocation(graphene.Mutation):
    """Load a location's code again here; other webservers and the daemon follow.

    Runs in flight keep the code they started with. A location whose new code fails to
    load answers success with `location { state loadError }` saying why."""

    class Arguments:
        location_name = graphene.String(required=True)

    Output = ReloadLocationResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, location_name: str) -> Any:
        check_mutation_allowed(info)
        workspace = require_workspace(info.context.workspace)
        if location_name not in workspace.location_names():
            return e.LocationNotFoundError(
                message=f"no code location named {location_name!r}; the workspace has "
                f"{workspace.location_names()}",
                location_name=location_name,
            )
        workspace.reload(location_name)
        return ReloadLocationSuccess(location=workspace.get(location_name))


class DrainWorker(graphene.Mutation):
    """Stop a Celery worker taking new ops (it finishes those it runs), as `opgraph
    workers drain` does."""

    class Arguments:
        worker_name = graphene.String(required=True, description="Celery node name, w1@host")

    Output = DrainWorkerResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, worker_name: str) -> Any:
        check_mutation_allowed(info)
        queues = drain_worker(info.context, worker_name)
        if not queues:
            return e.InvalidArgumentError(
                message=f"worker {worker_name!r} did not answer or consumes no queue: "
                "nothing to drain (see workersOrError for the workers that answer)",
                argument="workerName",
                given=worker_name,
                expected="the name of a worker that answers and consumes a queue",
            )
        return DrainWorkerSuccess(worker_name=worker_name, queues=queues)


class UiMutation(graphene.ObjectType):
    reload_location = ReloadLocation.Field(required=True)
    drain_worker = DrainWorker.Field(required=True)
