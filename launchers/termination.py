"""Stopping a run: politely (SAFE) or by force (FORCE), for the CLI, GraphQL and the UI.

SAFE asks the coordinator to cancel: a run that has not started is CANCELED at once, a
running one goes to CANCELING and its worker stops at the next step boundary. FORCE also
kills the run worker (where the launcher can) and marks the run CANCELED right away.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from opgraph.events import EventType
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import FINISHED_STATUSES, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance


class TerminatePolicy(StrEnum):
    SAFE = "SAFE"
    FORCE = "FORCE"


@dataclass(frozen=True)
class TerminateOutcome:
    run_id: str
    moved: bool  # the request changed the run's status
    status: RunStatus  # the status afterwards
    message: str


def terminate_run(
    instance: OpgraphInstance, run_id: str, policy: TerminatePolicy = TerminatePolicy.SAFE
) -> TerminateOutcome:
    """Raises RunNotFound for an unknown run; a finished run is left as it is."""
    run = instance.get_run(run_id)
    if run.status in FINISHED_STATUSES:
        return TerminateOutcome(
            run_id, False, run.status, f"run {run_id} already finished ({run.status.value})"
        )
    moved = instance.cancel_run(run_id)
    if policy is TerminatePolicy.SAFE:
        status = instance.get_run(run_id).status
        if moved:
            message = f"run {run_id} is {status.value}"
        else:
            message = f"run {run_id} is {status.value}; use FORCE to mark it CANCELED"
        return TerminateOutcome(run_id, moved, status, message)
    launcher = instance.run_launcher
    killed = launcher.supports_terminate and launcher.terminate(run_id)
    reason = "run worker terminated" if killed else "no run worker found to terminate"
    forced = append_lifecycle_event(
        instance, run_id, EventType.RUN_CANCELED, f"Run canceled by force ({reason})."
    )
    status = instance.get_run(run_id).status
    return TerminateOutcome(run_id, moved or forced, status, f"run {run_id}: {reason}")
