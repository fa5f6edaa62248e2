"""The step sweeper: Celery step attempts that no run worker watches any more.

While a run worker lives, its Celery executor marks its own lost attempts and retries
them. When the run worker is gone (its run finished, or it stopped heartbeating), the
daemon does it: attempts whose worker stopped heartbeating or that sat QUEUED past a
timeout are marked LOST, attempts of a finished run are revoked and CANCELED, each with
an event on the run saying why. The step itself is then re-run when the run is resumed
(bounded by `max_resume_run_attempts`) or fails with its run.

Revoking on the broker goes through an injected `StepTerminator` (app/cli_daemon.py
passes a Celery one): opgraph never imports Celery.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.events import EventType, make_event
from opgraph.instance import OpgraphInstance
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, StepAttempt, StepAttemptStatus

LIVE_ATTEMPTS = (StepAttemptStatus.QUEUED, StepAttemptStatus.RUNNING)


class StepTerminator(Protocol):
    def revoke(self, attempt: StepAttempt, terminate: bool) -> None:
        """Drop the attempt's message; `terminate`: also kill the process running it."""


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
        if _give_up(instance, terminator, attempt, status, reason, now):
            stopped += 1
    return stopped


def _give_up(
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


class StepSweeper(DaemonPart):
    name = "STEP_SWEEPER"

    def __init__(
        self,
        instance: OpgraphInstance,
        terminator: StepTerminator | None = None,
        worker_timeout_seconds: float = 60.0,
        heartbeat_timeout_seconds: float = 60.0,
        queued_timeout_seconds: float = 600.0,
        interval_seconds: float = 10.0,
    ):
        self.instance = instance
        self.terminator = terminator
        self.worker_timeout_seconds = worker_timeout_seconds
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        self.queued_timeout_seconds = queued_timeout_seconds
        self.interval_seconds = interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        storage = self.instance.storage
        by_run: dict[str, list[StepAttempt]] = defaultdict(list)
        for attempt in storage.get_step_attempts(statuses=LIVE_ATTEMPTS):
            by_run[attempt.run_id].append(attempt)
        for run_id, attempts in by_run.items():
            run = storage.get_run(run_id)
            if (
                run is not None
                and run.status not in FINISHED_STATUSES
                and now - worker_last_seen(run) < self.worker_timeout_seconds
            ):
                continue  # its run worker is alive and sweeps its own attempts
            for attempt in attempts:
                verdict = self._verdict(run, attempt, now)
                if verdict is not None and _give_up(
                    self.instance, self.terminator, attempt, verdict[0], verdict[1], now
                ):
                    report.count(verdict[0].value.lower())
        return report

    def _verdict(
        self, run: RunRecord | None, attempt: StepAttempt, now: float
    ) -> tuple[StepAttemptStatus, str] | None:
        if run is None or run.status in FINISHED_STATUSES:
            state = "deleted" if run is None else run.status.value
            return StepAttemptStatus.CANCELED, f"its run is {state}; nobody waits for the step"
        if attempt.status is StepAttemptStatus.RUNNING:
            silent = now - (attempt.heartbeat_at or attempt.started_at or attempt.queued_at)
            if silent > self.heartbeat_timeout_seconds:
                return StepAttemptStatus.LOST, (
                    f"the Celery worker {attempt.hostname} (pid {attempt.pid}) stopped "
                    f"heartbeating {silent:.0f}s ago and the run worker is gone"
                )
            return None
        waited = now - attempt.queued_at
        if waited > self.queued_timeout_seconds:
            return StepAttemptStatus.LOST, (
                f"it sat QUEUED on {attempt.queue!r} for {waited:.0f}s with no worker taking "
                "it, and the run worker is gone"
            )
        return None
