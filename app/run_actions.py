"""Run actions shared by GraphQL, the CLI and the UI: submit, delete, wipe."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.ports import RunStatusError
from opgraph_launchers.base import record_transition
from opgraph_storage.records import LIVE_STATUSES, RunRecord, RunsFilter, RunStatus

_WIPE_PAGE = 500


def submit_or_fail(instance: OpgraphInstance, run: RunRecord) -> RunRecord:
    """Submit a new run; if the coordinator or launcher raises, fail the run with the reason.

    A run that could not be handed on must not sit NOT_STARTED forever."""
    try:
        return instance.submit_run(run.run_id)
    except Exception as exc:
        record_transition(
            instance,
            run.run_id,
            EventType.RUN_FAILURE,
            RunStatus.FAILURE,
            (RunStatus.NOT_STARTED,),
            f"Could not submit the run: {type(exc).__name__}: {exc}",
        )
        raise


def delete_run(instance: OpgraphInstance, run_id: str) -> None:
    """Delete a finished run, its events and its captured logs (RunNotFound, RunStatusError)."""
    run = instance.get_run(run_id)
    if run.status in LIVE_STATUSES:
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
    finished = [s for s in RunStatus if s not in LIVE_STATUSES]
    deleted = 0
    while True:
        page = instance.storage.get_runs(RunsFilter(statuses=finished), limit=_WIPE_PAGE)
        for run in page:
            instance.storage.delete_run(run.run_id)
            shutil.rmtree(instance.compute_logs_dir / run.run_id, ignore_errors=True)
        deleted += len(page)
        if len(page) < _WIPE_PAGE:
            break
    kept = instance.storage.get_runs_count(RunsFilter(statuses=list(LIVE_STATUSES)))
    return WipeOutcome(deleted, kept)
