"""Remote step attempts (the step-attempt table) as the daemon sees them.

An executor that runs steps in other processes (the Celery plugin) records each try as a
step attempt. When run monitoring fails a run whose worker died, it first stops that run's
live attempts here: each is compare-and-set to LOST or CANCELED, revoked through the
`StepTerminator`s that plugins register (`opgraph.step_terminators`), and logged on the
run. When it resumes the run instead, it stops only the attempts whose own worker is gone
(`stop_orphaned_steps`): the others are adopted by the new run worker and run once. A
plugin's own sweeper (a daemon part) uses the same `give_up`.
"""

from __future__ import annotations

import logging

from opgraph import plugins
from opgraph.events import EventType, make_event
from opgraph.instance import OpgraphInstance
from opgraph.ports import StepTerminator
from opgraph_storage.records import RunRecord, StepAttempt, StepAttemptStatus

log = logging.getLogger("opgraph.daemon")

LIVE_ATTEMPTS = (StepAttemptStatus.QUEUED, StepAttemptStatus.RUNNING)


class PluginStepTerminators:
    """Every installed step terminator (`opgraph.step_terminators`), asked in turn; one
    that fails does not keep the others from trying (the attempt is marked in storage
    whatever a broker says)."""

    def __init__(self, instance: OpgraphInstance):
        builders = plugins.load_all(plugins.STEP_TERMINATORS)
        self.terminators: list[StepTerminator] = [build(instance) for build in builders.values()]

    def revoke(self, attempt: StepAttempt, terminate: bool) -> None:
        for terminator in self.terminators:
            try:
                terminator.revoke(attempt, terminate)
            except Exception as exc:
                log.warning("could not revoke step attempt %s: %s", attempt.attempt_id, exc)


def worker_last_seen(run: RunRecord) -> float:
    """When the run worker last showed it was alive (heartbeat, start, or creation)."""
    return max(run.worker_heartbeat_at or 0.0, run.started_at or 0.0, run.created_at)


def stop_run_steps(
    instance: OpgraphInstance,
    terminator: StepTerminator | None,
    run_id: str,
    reason: str,
    now: float,
    status: StepAttemptStatus = StepAttemptStatus.LOST,
) -> int:
    """Revoke (and kill) every live attempt of the run and mark it `status`; returns how
    many. Run monitoring calls this before resuming or failing a run."""
    stopped = 0
    for attempt in instance.storage.get_step_attempts(run_id=run_id, statuses=LIVE_ATTEMPTS):
        if give_up(instance, terminator, attempt, status, reason, now):
            stopped += 1
    return stopped


def stop_orphaned_steps(
    instance: OpgraphInstance,
    terminator: StepTerminator | None,
    run_id: str,
    reason: str,
    now: float,
    grace_seconds: float,
) -> int:
    """Before a resume: mark LOST (and kill, in case it only went quiet) every RUNNING
    attempt of the run whose worker has not heartbeated for the liveness grace; returns how
    many. QUEUED attempts and those running on a live worker are left alone: the resumed
    run worker adopts them, so an op in flight is not killed and run a second time."""
    stopped = 0
    for attempt in instance.storage.get_step_attempts(
        run_id=run_id, statuses=[StepAttemptStatus.RUNNING]
    ):
        silent = now - (attempt.heartbeat_at or attempt.started_at or attempt.queued_at)
        if silent <= grace_seconds:
            continue
        why = (
            f"{reason}, and the step's own worker {attempt.hostname} (pid {attempt.pid}) has "
            f"not heartbeated for {silent:.0f}s (liveness grace: {grace_seconds:g}s)"
        )
        if give_up(instance, terminator, attempt, StepAttemptStatus.LOST, why, now):
            stopped += 1
    return stopped


def give_up(
    instance: OpgraphInstance,
    terminator: StepTerminator | None,
    attempt: StepAttempt,
    status: StepAttemptStatus,
    reason: str,
    now: float,
) -> bool:
    """Compare-and-set the attempt to `status` first: only the winner revokes and logs."""
    if not instance.storage.finish_step_attempt(
        attempt.attempt_id, status, now, reason, [attempt.status]
    ):
        return False
    if terminator is not None:
        terminator.revoke(attempt, terminate=attempt.status is StepAttemptStatus.RUNNING)
    instance.store_events(
        [
            make_event(
                attempt.run_id,
                EventType.ENGINE_EVENT,
                step_key=attempt.step_key,
                attempt=attempt.attempt_number,
                level="WARNING",
                message=f"Step attempt {attempt.attempt_id} marked {status.value} by the "
                f"daemon: {reason}",
                data={"attempt_id": attempt.attempt_id, "status": status.value, "reason": reason},
            )
        ]
    )
    return True
