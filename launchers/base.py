"""Helpers the launchers share. The interfaces they implement (`RunLauncher`,
`RunCoordinator`, `WorkerHealth`, the run-worker tags) are the core's: `opgraph.ports`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opgraph.events import EventType
from opgraph.ports import RunStatusError
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance


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
