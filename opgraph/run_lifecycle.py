"""The run lifecycle: which RUN_* event moves a run to which status, and the one way to
move it.

Every status move in the platform (coordinators, launchers, the run worker, the daemon,
the CLI, GraphQL) is `append_lifecycle_event`: storage compares and sets the run's status
and stores the event in one transaction (`Storage.append_run_event`), so the status is
always the fold of the run's stored lifecycle events (`fold_status`). An event the run's
status does not allow (RUN_SUCCESS after RUN_CANCELED) is not stored; an ENGINE_EVENT
saying why is stored in its place.

    NOT_STARTED -> QUEUED -> STARTING -> STARTED -> SUCCESS | FAILURE
    any live status -> CANCELING -> CANCELED (or straight to CANCELED)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opgraph.events import EventType, make_event
from opgraph.ports import RunStatusError
from opgraph.process_lifetime import this_process
from opgraph_storage.base import Storage
from opgraph_storage.records import (
    FINISHED_STATUSES,
    LIVE_STATUSES,
    EventRecord,
    RunRecord,
    RunsFilter,
    RunStatus,
)

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

S = RunStatus


@dataclass(frozen=True)
class Transition:
    to_status: RunStatus
    from_statuses: frozenset[RunStatus]


TRANSITIONS: Mapping[EventType, Transition] = {
    EventType.RUN_ENQUEUED: Transition(S.QUEUED, frozenset({S.NOT_STARTED})),
    EventType.RUN_STARTING: Transition(S.STARTING, frozenset({S.NOT_STARTED, S.QUEUED})),
    EventType.RUN_START: Transition(S.STARTED, frozenset({S.NOT_STARTED, S.QUEUED, S.STARTING})),
    EventType.RUN_SUCCESS: Transition(S.SUCCESS, frozenset({S.STARTED, S.CANCELING})),
    EventType.RUN_FAILURE: Transition(S.FAILURE, LIVE_STATUSES),
    EventType.RUN_CANCELING: Transition(S.CANCELING, LIVE_STATUSES - {S.CANCELING}),
    EventType.RUN_CANCELED: Transition(S.CANCELED, LIVE_STATUSES),
}
LIFECYCLE_EVENT_TYPES = frozenset(TRANSITIONS)
INITIAL_STATUS = S.NOT_STARTED

_WIPE_PAGE = 500


def fold_status(event_types: Iterable[str]) -> RunStatus:
    """The status a run's lifecycle events lead to, from NOT_STARTED; other events are
    skipped. ValueError if an event was not allowed where it stands (a log that storage
    should never hold)."""
    status = INITIAL_STATUS
    for event_type in event_types:
        transition = TRANSITIONS.get(EventType(event_type))
        if transition is None:
            continue
        if status not in transition.from_statuses:
            raise ValueError(f"{event_type} is not allowed from {status.value}")
        status = transition.to_status
    return status


def append_lifecycle_event(
    target: OpgraphInstance | Storage,
    run_id: str,
    event_type: EventType,
    message: str = "",
    *,
    only_from: Iterable[RunStatus] | None = None,
    level: str | None = None,
    timestamp: float | None = None,
    record_refusal: bool = True,
    **data: Any,
) -> bool:
    """Move the run by `event_type` and store the event, in one transaction; True if it
    moved. `only_from` narrows the statuses the table allows (e.g. a launch failure only
    fails a STARTING run). Refused: the event is not stored, an ENGINE_EVENT names the
    refusal instead; nothing at all for a run that does not exist, for a run already in
    the status the event leads to (a worker's RUN_CANCELED after a forced cancel: the
    request holds), or with `record_refusal=False` (a first try that a second follows)."""
    transition = TRANSITIONS[event_type]
    allowed = transition.from_statuses
    if only_from is not None:
        allowed = allowed & frozenset(only_from)
    event = make_event(
        run_id,
        event_type,
        message=message,
        level=level or ("ERROR" if event_type is EventType.RUN_FAILURE else "INFO"),
        data=data,
        timestamp=timestamp,
    )
    outcome = _storage(target).append_run_event(
        event,
        transition.to_status,
        allowed,
        lambda status: (
            _refusal(event, status)
            if record_refusal and status is not transition.to_status
            else None
        ),
    )
    return outcome.moved


def append_if_status(
    target: OpgraphInstance | Storage,
    event: EventRecord,
    statuses: Iterable[RunStatus],
) -> bool:
    """Store a non-lifecycle `event` only while the run is in `statuses` (the status does
    not move); refused like a lifecycle event. For decisions that need the status to
    still hold when they are recorded, e.g. resuming a STARTED run."""
    if event.event_type in LIFECYCLE_EVENT_TYPES:
        raise ValueError(f"{event.event_type} moves the run: use append_lifecycle_event")
    outcome = _storage(target).append_run_event(
        event, None, statuses, lambda status: _refusal(event, status)
    )
    return outcome.moved


def _storage(target: OpgraphInstance | Storage) -> Storage:
    return target if isinstance(target, Storage) else target.storage


def _refusal(event: EventRecord, status: RunStatus) -> EventRecord:
    return make_event(
        event.run_id,
        EventType.ENGINE_EVENT,
        level="WARNING",
        message=f"{event.event_type} refused: run is {status.value}"
        + (f" ({event.message})" if event.message else ""),
        data={**event.data, "refused_event": event.event_type, "run_status": status.value},
    )


# -- the moves the platform makes ---------------------------------------------------------
def mark_starting(instance: OpgraphInstance, run: RunRecord, message: str) -> None:
    """NOT_STARTED/QUEUED -> STARTING before a worker is started; RunStatusError if the
    run is in any other status (e.g. another launcher got it first). The event names the
    launching process: should it die before it starts the worker, run monitoring can tell
    that launch from a slow one (see RunMonitor)."""
    if not append_lifecycle_event(
        instance, run.run_id, EventType.RUN_STARTING, message, launched_by=this_process()
    ):
        status = instance.get_run(run.run_id).status.value
        raise RunStatusError(
            f"run {run.run_id} is {status}; only NOT_STARTED or QUEUED runs can be launched"
        )


def mark_launch_failed(instance: OpgraphInstance | Storage, run_id: str, message: str) -> bool:
    """A worker could not be started: the run fails with the reason instead of hanging."""
    return append_lifecycle_event(
        instance, run_id, EventType.RUN_FAILURE, message, only_from=(S.STARTING,)
    )


def require_started(run: RunRecord) -> None:
    """Only a STARTED run (its worker gone) can be resumed."""
    if run.status is not S.STARTED:
        raise RunStatusError(
            f"run {run.run_id} is {run.status.value}; only STARTED runs can be resumed"
        )


def cancel_run(instance: OpgraphInstance, run_id: str) -> bool:
    """A run that has not started is canceled outright; a running one is asked to stop
    (CANCELING: its run worker stops at its next check). True if the status moved."""
    instance.get_run(run_id)  # RunNotFound names the id
    if append_lifecycle_event(
        instance,
        run_id,
        EventType.RUN_CANCELED,
        "Run canceled before it started.",
        only_from=(S.NOT_STARTED, S.QUEUED),
        record_refusal=False,  # the CANCELING below is the request's one answer
    ):
        return True
    return append_lifecycle_event(
        instance,
        run_id,
        EventType.RUN_CANCELING,
        "Cancel requested; the run worker stops at its next check.",
        only_from=(S.STARTING, S.STARTED),
    )


def submit_or_fail(instance: OpgraphInstance, run: RunRecord) -> RunRecord:
    """Submit a new run; if the coordinator or launcher raises, fail the run with the reason.

    A run that could not be handed on must not sit NOT_STARTED forever."""
    try:
        return instance.submit_run(run.run_id)
    except Exception as exc:
        append_lifecycle_event(
            instance,
            run.run_id,
            EventType.RUN_FAILURE,
            f"Could not submit the run: {type(exc).__name__}: {exc}",
            only_from=(S.NOT_STARTED,),
        )
        raise


def delete_run(instance: OpgraphInstance, run_id: str) -> None:
    """Delete a finished run, its events and its captured logs (RunNotFound, RunStatusError).

    A finished status is final (no transition leaves it), so the check cannot go stale
    before the delete."""
    run = instance.get_run(run_id)
    if run.status not in FINISHED_STATUSES:
        raise RunStatusError(
            f"run {run_id} is {run.status.value}; cancel it first: opgraph runs cancel {run_id}"
        )
    instance.storage.delete_run(run_id)
    shutil.rmtree(instance.compute_logs_dir / run.run_id, ignore_errors=True)


@dataclass(frozen=True)
class WipeOutcome:
    deleted: int
    kept_live: int


def wipe_runs(instance: OpgraphInstance) -> WipeOutcome:
    """Delete every finished run; live runs are kept (their workers still write to them)."""
    deleted = 0
    while True:
        page = instance.storage.get_runs(
            RunsFilter(statuses=list(FINISHED_STATUSES)), limit=_WIPE_PAGE
        )
        for run in page:
            instance.storage.delete_run(run.run_id)
            shutil.rmtree(instance.compute_logs_dir / run.run_id, ignore_errors=True)
        deleted += len(page)
        if len(page) < _WIPE_PAGE:
            break
    kept = instance.storage.get_runs_count(RunsFilter(statuses=list(LIVE_STATUSES)))
    return WipeOutcome(deleted, kept)
