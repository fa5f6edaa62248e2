"""The Celery run launcher: each run worker runs as a task on the fleet's `runs` queue.

The task starts `python -m opgraph.run_worker RUN_ID` as a child process and waits for it
(a process, not `result.get()`), so any executor works inside, and the run worker is
the same program the subprocess launcher starts. Completion is in the event log.

The launcher cannot see another machine's processes: a run worker is DEAD to it when
it has not heartbeated for the liveness grace (`liveness.missed_heartbeats` beats). The
daemon's run monitoring then resumes the run with a new task (`--resume`, continuing from
the event log).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from opgraph.ports import RunLauncher, WorkerHealth
from opgraph.run_lifecycle import mark_launch_failed, mark_starting, require_started
from opgraph_celery.celery_app import instance_celery_config, make_celery_app
from opgraph_celery.settings import RUN_TASK
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

RUN_TASK_TAG = "opgraph/run_task_id"
RUN_QUEUE_TAG = "opgraph/run_queue"
# When a resume task was sent: the new worker counts as alive from then until it beats.
RESUME_SENT_TAG = "opgraph/run_resume_sent_at"


class CeleryRunLauncher(RunLauncher):
    supports_terminate = True
    supports_health_check = True
    supports_resume = True
    supports_relaunch = True

    def __init__(
        self,
        instance: OpgraphInstance,
        queue: str = "runs",
        heartbeat_timeout_seconds: float | None = None,  # deprecated: the liveness grace
    ):
        self._instance = instance
        self.queue = queue
        self.heartbeat_timeout_seconds = (
            heartbeat_timeout_seconds or instance.config.liveness.grace_seconds
        )
        self._app = make_celery_app(instance_celery_config(instance.home))

    def launch_run(self, run: RunRecord) -> RunRecord:
        mark_starting(
            self._instance, run, f"Sending the run worker to Celery queue {self.queue!r}."
        )
        task_id = f"run-{run.run_id}"
        try:
            self._app.send_task(
                RUN_TASK, args=[{"run_id": run.run_id}], task_id=task_id, queue=self.queue
            )
        except Exception as exc:  # broker down: the run fails with the reason, never hangs
            mark_launch_failed(
                self._instance, run.run_id, f"Could not send the run worker to Celery: {exc}"
            )
            return self._instance.get_run(run.run_id)
        self._instance.storage.add_run_tags(
            run.run_id, {RUN_TASK_TAG: task_id, RUN_QUEUE_TAG: self.queue}
        )
        return self._instance.get_run(run.run_id)

    def resume_run(self, run: RunRecord) -> RunRecord:
        """Send a new run task that continues the run from its event log."""
        require_started(run)
        # A new task id: the old one may be revoked, and workers drop revoked ids.
        task_id = f"run-{run.run_id}-resume-{uuid.uuid4().hex[:8]}"
        sent_at = time.time()
        payload = {"run_id": run.run_id, "resume_requested_at": sent_at}
        self._app.send_task(RUN_TASK, args=[payload], task_id=task_id, queue=self.queue)
        self._instance.storage.add_run_tags(
            run.run_id, {RUN_TASK_TAG: task_id, RESUME_SENT_TAG: repr(sent_at)}
        )
        return self._instance.get_run(run.run_id)

    def relaunch_run(self, run: RunRecord) -> bool:
        """Send the run task that the cut-short launch did not get to send (or record)."""
        if run.status is not RunStatus.STARTING or RUN_TASK_TAG in run.tags:
            return False
        task_id = f"run-{run.run_id}-relaunch-{uuid.uuid4().hex[:8]}"
        self._app.send_task(
            RUN_TASK, args=[{"run_id": run.run_id}], task_id=task_id, queue=self.queue
        )
        self._instance.storage.add_run_tags(
            run.run_id, {RUN_TASK_TAG: task_id, RUN_QUEUE_TAG: self.queue}
        )
        return True

    def terminate(self, run_id: str) -> bool:
        """Revoke the run task; a running one has its run worker stopped with SIGTERM."""
        run = self._instance.get_run(run_id)
        task_id = run.tags.get(RUN_TASK_TAG)
        if task_id is None:
            return False
        self._app.control.revoke(task_id, terminate=True, signal="SIGTERM")
        return True

    def close(self) -> None:
        """Close the broker connections (the instance calls this when disposed)."""
        self._app.close()

    def check_run_worker_health(self, run: RunRecord) -> WorkerHealth:
        beat = run.worker_heartbeat_at or run.started_at
        if beat is None:
            return WorkerHealth.UNKNOWN
        beat = max(beat, _float_tag(run, RESUME_SENT_TAG))
        if time.time() - beat > self.heartbeat_timeout_seconds:
            return WorkerHealth.DEAD
        return WorkerHealth.RUNNING


def _float_tag(run: RunRecord, key: str) -> float:
    try:
        return float(run.tags.get(key, 0))
    except ValueError:
        return 0.0
