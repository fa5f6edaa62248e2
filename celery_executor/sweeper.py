"""The Celery plugin's daemon part and step terminator (entry points `opgraph.daemon_parts`
and `opgraph.step_terminators` in setup.cfg).

The step sweeper: Celery step attempts that no run worker watches any more. While a run
worker lives, its Celery executor marks its own lost attempts and retries them. When the
run worker is gone (its run finished, or it stopped heartbeating), the daemon does it:
attempts whose worker stopped heartbeating or that sat QUEUED past a timeout are marked
LOST, attempts of a finished run are revoked and CANCELED, each with an event on the run
saying why. The step itself is then re-run when the run is resumed (bounded by
`max_resume_run_attempts`) or fails with its run.

Celery itself is imported only when a step is revoked, so a daemon of an instance without
Celery never connects to a broker.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.daemon.remote_steps import LIVE_ATTEMPTS, give_up, worker_last_seen
from opgraph.instance import OpgraphInstance
from opgraph.ports import StepTerminator
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, StepAttempt, StepAttemptStatus

log = logging.getLogger("opgraph.daemon")


class CeleryStepTerminator:
    """Revokes step tasks on the instance's Celery broker (the app is built on first use)."""

    def __init__(self, instance: OpgraphInstance):
        self.home = instance.home
        self._app: Any = None

    def revoke(self, attempt: StepAttempt, terminate: bool) -> None:
        try:
            if self._app is None:
                from opgraph_celery.celery_app import instance_celery_config, make_celery_app

                self._app = make_celery_app(instance_celery_config(self.home))
            destination = [attempt.hostname] if terminate and attempt.hostname else None
            self._app.control.revoke(
                attempt.attempt_id, terminate=terminate, signal="SIGKILL", destination=destination
            )
        except Exception as exc:  # the attempt is marked in storage whatever the broker says
            log.warning("could not revoke step attempt %s: %s", attempt.attempt_id, exc)


def build_step_sweeper(instance: OpgraphInstance) -> DaemonPart:
    """The daemon part, configured from instance.yaml's `liveness`: a run worker and a step
    attempt count as gone after the grace, a QUEUED attempt after its own deadline."""
    liveness = instance.config.liveness
    return StepSweeper(
        instance,
        CeleryStepTerminator(instance),
        worker_timeout_seconds=liveness.grace_seconds,
        heartbeat_timeout_seconds=liveness.grace_seconds,
        queued_timeout_seconds=liveness.step_queued_timeout_seconds,
    )


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
                if verdict is not None and give_up(
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
