"""Run coordinators: immediate (launch on submit) and queued (the daemon dequeues)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opgraph.events import EventType
from opgraph.instance_config import TagConcurrencyLimit
from opgraph.ports import QueueLimits, RunCoordinator, RunStatusError
from opgraph_launchers.base import record_transition
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance


def cancel_run(instance: OpgraphInstance, run_id: str) -> bool:
    """A run that has not started is canceled outright; a running one is asked to stop."""
    instance.get_run(run_id)  # RunNotFound names the id
    not_started = (RunStatus.NOT_STARTED, RunStatus.QUEUED)
    if record_transition(
        instance,
        run_id,
        EventType.RUN_CANCELED,
        RunStatus.CANCELED,
        not_started,
        "Run canceled before it started.",
    ):
        return True
    # The run worker watches its run's status and stops at the next step boundary.
    running = (RunStatus.STARTING, RunStatus.STARTED)
    return record_transition(
        instance,
        run_id,
        EventType.RUN_CANCELING,
        RunStatus.CANCELING,
        running,
        "Cancel requested; the run worker stops at its next check.",
    )


class ImmediateRunCoordinator(RunCoordinator):
    """Launches every submitted run straight away."""

    def __init__(self, instance: OpgraphInstance):
        self._instance = instance

    def submit_run(self, run: RunRecord) -> RunRecord:
        return self._instance.launch_run(run.run_id)

    def cancel_run(self, run_id: str) -> bool:
        return cancel_run(self._instance, run_id)


class QueuedRunCoordinator(RunCoordinator):
    """Puts submitted runs in the QUEUED status; the daemon launches them within limits."""

    def __init__(
        self,
        instance: OpgraphInstance,
        max_concurrent_runs: int = 10,
        tag_concurrency_limits: Sequence[dict[str, Any] | TagConcurrencyLimit] = (),
        dequeue_interval_seconds: float = 5.0,
    ):
        self._instance = instance
        self.max_concurrent_runs = max_concurrent_runs
        self.tag_concurrency_limits = [
            TagConcurrencyLimit.model_validate(limit) for limit in tag_concurrency_limits
        ]
        self.dequeue_interval_seconds = dequeue_interval_seconds

    def queue_limits(self) -> QueueLimits:
        return QueueLimits(
            self.max_concurrent_runs,
            tuple(self.tag_concurrency_limits),
            self.dequeue_interval_seconds,
        )

    def submit_run(self, run: RunRecord) -> RunRecord:
        if not record_transition(
            self._instance,
            run.run_id,
            EventType.RUN_ENQUEUED,
            RunStatus.QUEUED,
            (RunStatus.NOT_STARTED,),
            "Run queued; the daemon launches it when there is room.",
        ):
            status = self._instance.get_run(run.run_id).status.value
            raise RunStatusError(
                f"run {run.run_id} is {status}; only NOT_STARTED runs can be submitted"
            )
        return self._instance.get_run(run.run_id)

    def cancel_run(self, run_id: str) -> bool:
        return cancel_run(self._instance, run_id)
