"""Run coordinators: immediate (launch on submit) and queued (the daemon dequeues)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opgraph.events import EventType
from opgraph.instance_config import TagConcurrencyLimit
from opgraph.ports import QueueLimits, RunCoordinator, RunStatusError
from opgraph.run_lifecycle import append_lifecycle_event, cancel_run
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance


class ImmediateRunCoordinator(RunCoordinator):
    """Launches every submitted run straight away."""

    def __init__(self, instance: OpgraphInstance):
        self._instance = instance

    def submit_run(self, run: RunRecord) -> RunRecord:
        return self._instance.launch_run(run.run_id, run)

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
        if not append_lifecycle_event(
            self._instance,
            run.run_id,
            EventType.RUN_ENQUEUED,
            "Run queued; the daemon launches it when there is room.",
        ):
            status = self._instance.get_run(run.run_id).status.value
            raise RunStatusError(
                f"run {run.run_id} is {status}; only NOT_STARTED runs can be submitted"
            )
        # The run as this submit left it, without reading it back (two statements of a
        # launchRun's few): the daemon may launch it any moment, so any read is a snapshot.
        return replace(run, status=RunStatus.QUEUED, updated_at=time.time())

    def cancel_run(self, run_id: str) -> bool:
        return cancel_run(self._instance, run_id)
