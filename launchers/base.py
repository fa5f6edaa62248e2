"""The two seams between "a run was requested" and "a run worker is running it".

A coordinator decides *when* a run goes (now, or when the queue has room); a launcher
decides *where* its run worker starts (a local subprocess, a Celery task, ...). Both are
named in instance.yaml and constructed as `cls(instance=..., **config)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from opgraph.errors import OpgraphError
from opgraph.events import EventType
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

RUN_WORKER_PID_TAG = "opgraph/run_worker_pid"
RUN_WORKER_HOST_TAG = "opgraph/run_worker_host"
# The worker process's start time (Linux clock ticks since boot): with the pid it tells
# the worker apart from a later process that got the same pid.
RUN_WORKER_START_TAG = "opgraph/run_worker_start"


class RunStatusError(OpgraphError):
    """The run is not in a status that allows the requested step (e.g. launching it twice)."""


class WorkerHealth(StrEnum):
    RUNNING = "RUNNING"
    DEAD = "DEAD"
    UNKNOWN = "UNKNOWN"  # e.g. the worker runs on another machine


class RunCoordinator(ABC):
    @abstractmethod
    def submit_run(self, run: RunRecord) -> RunRecord:
        """Take a NOT_STARTED run: launch it now or queue it. Returns the updated run."""

    @abstractmethod
    def cancel_run(self, run_id: str) -> bool:
        """Cancel a live run; True if its status moved (to CANCELED or CANCELING)."""


class RunLauncher(ABC):
    # Capability flags: callers check these instead of catching NotImplementedError.
    supports_terminate: bool = False
    supports_health_check: bool = False
    supports_resume: bool = False

    @abstractmethod
    def launch_run(self, run: RunRecord) -> RunRecord:
        """Start a run worker for a NOT_STARTED or QUEUED run (status -> STARTING)."""

    def terminate(self, run_id: str) -> bool:
        """Stop the run worker by force; True if there was one to stop."""
        return False

    def check_run_worker_health(self, run: RunRecord) -> WorkerHealth:
        return WorkerHealth.UNKNOWN

    def resume_run(self, run: RunRecord) -> RunRecord:
        """Start a new run worker for a STARTED run whose worker died; it continues from
        the event log (`python -m opgraph.run_worker ID --resume`). Only where
        `supports_resume`: the daemon's run monitoring calls it."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume runs")


def record_transition(
    instance: OpgraphInstance,
    run_id: str,
    event_type: EventType,
    to_status: RunStatus,
    from_statuses: Iterable[RunStatus],
    message: str = "",
    **data: Any,
) -> bool:
    """Move the run's status and log the event, only if the move is allowed.

    The compare-and-set comes first so that two processes racing (two launchers, a
    cancel and a launch) cannot both act: only the winner stores its event.
    """
    if not instance.storage.transition_run_status(run_id, to_status, from_statuses):
        return False
    instance.report_run_event(run_id, event_type, message, **data)
    return True


def mark_starting(instance: OpgraphInstance, run: RunRecord, message: str) -> None:
    """NOT_STARTED/QUEUED -> STARTING before a worker is started; RunStatusError if the
    run is in any other status (e.g. another launcher got it first)."""
    launchable = (RunStatus.NOT_STARTED, RunStatus.QUEUED)
    if not record_transition(
        instance, run.run_id, EventType.RUN_STARTING, RunStatus.STARTING, launchable, message
    ):
        status = instance.get_run(run.run_id).status.value
        raise RunStatusError(
            f"run {run.run_id} is {status}; only NOT_STARTED or QUEUED runs can be launched"
        )


def mark_launch_failed(instance: OpgraphInstance, run_id: str, message: str) -> None:
    """A worker could not be started: the run fails with the reason instead of hanging."""
    record_transition(
        instance, run_id, EventType.RUN_FAILURE, RunStatus.FAILURE, (RunStatus.STARTING,), message
    )


def require_started(run: RunRecord) -> None:
    """Only a STARTED run (its worker gone) can be resumed."""
    if run.status is not RunStatus.STARTED:
        raise RunStatusError(
            f"run {run.run_id} is {run.status.value}; only STARTED runs can be resumed"
        )
