"""Run monitoring on a real Celery fleet: the run worker of a Celery-executor run is
killed with SIGKILL mid-op; the daemon fails the run and really kills the op's process."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

from daemon_procs import wait_for

from opgraph import reconstructable
from opgraph.daemon.monitoring import RunMonitor
from opgraph.instance_config import RunMonitoringConfig
from opgraph_celery.sweeper import CeleryStepTerminator
from opgraph_storage.records import RunStatus, StepAttemptStatus
from tests.fleet import jobs


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_dead_run_worker_of_a_celery_run_is_failed_and_its_op_killed(
    celery_fleet: Any, tmp_path: Path
) -> None:
    instance = celery_fleet.instance
    run = instance.create_run(
        "long_job",
        run_config={"execution": {"config": {"celery": {"heartbeat_timeout_seconds": 4}}}},
        tags={"test/marker_dir": str(tmp_path), "test/sleep": "120"},
        code_pointer=reconstructable(jobs.long_job).pointer,
    )
    instance.launch_run(run.run_id)  # a run worker subprocess publishing to the fleet
    running = wait_for(
        lambda: instance.storage.get_step_attempts(
            run_id=run.run_id, statuses=[StepAttemptStatus.RUNNING]
        ),
        60,
        "long_op to run on a Celery worker",
    )
    pid_file = tmp_path / "long_op.pid"
    wait_for(pid_file.exists, 30, "the op's pid")
    op_pid = int(pid_file.read_text())
    worker_pid = int(instance.get_run(run.run_id).tags["opgraph/run_worker_pid"])
    os.kill(worker_pid, signal.SIGKILL)
    monitor = RunMonitor(instance, RunMonitoringConfig(), CeleryStepTerminator(instance))
    wait_for(lambda: monitor.tick(time.time()).info.get("worker_failures"), 10, "the dead worker")
    assert instance.get_run(run.run_id).status is RunStatus.FAILURE
    [attempt] = instance.storage.get_step_attempts(attempt_ids=[running[0].attempt_id])
    assert attempt.status is StepAttemptStatus.LOST
    assert "run worker (pid" in (attempt.reason or "")
    wait_for(lambda: not _alive(op_pid), 20, "the op's process to be killed")
    assert (tmp_path / "long_op.runs").read_text().count("\n") == 1  # not redelivered
