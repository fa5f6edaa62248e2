"""Run monitoring on a real Celery fleet: the run worker of a Celery-executor run is
killed with SIGKILL mid-op; without resume the daemon fails the run and really kills the
op's process, with resume (a real daemon process) the ops in flight are adopted and run once."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

from daemon_procs import DaemonProcess, make_home, wait_for

from opgraph import reconstructable
from opgraph.daemon.monitoring import RESUME_ATTEMPTS_TAG, RunMonitor
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import RunMonitoringConfig
from opgraph.ports import RUN_WORKER_PID_TAG
from opgraph_celery.sweeper import CeleryStepTerminator
from opgraph_storage.records import FINISHED_STATUSES, RunStatus, StepAttemptStatus
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


def test_a_run_resumed_by_the_daemon_adopts_its_running_ops(
    celery_fleet: Any, tmp_path: Path
) -> None:
    """A real daemon process resumes a run whose run worker was SIGKILLed while four ops
    ran on the fleet: the new run worker adopts them, and each op runs exactly once."""
    home = make_home(
        tmp_path / "home",
        celery_fleet.storage_url,
        run_monitoring={"poll_interval_seconds": 0.5, "max_resume_run_attempts": 1},
        # Grace 20 s: steps beat every 2 s, so a busy machine does not make them look dead.
        liveness={"heartbeat_interval_seconds": 1, "missed_heartbeats": 20},
        celery={"broker_url": celery_fleet.broker_url, "default_queue": celery_fleet.queue},
    )
    jobs_file = Path(__file__).with_name("held_jobs.py")
    markers = tmp_path / "markers"
    markers.mkdir()
    (markers / "hold").touch()
    celery_fleet.start_worker("w2")  # with w1: four ops running at once
    instance = OpgraphInstance.get(home)
    storage = instance.storage
    daemon = DaemonProcess(home, "resume")
    try:
        run = instance.create_run(
            "four_held",
            run_config={"execution": {"config": {"celery": {}}}},
            tags={"test/marker_dir": str(markers)},
            code_pointer={"python_file": str(jobs_file), "working_directory": str(tmp_path)},
        )
        instance.submit_run(run.run_id)
        held = [f"held_{i}" for i in range(4)]
        wait_for(
            lambda: all((markers / f"{step}.runs").exists() for step in held),
            120,
            "the four held ops to run on the fleet",
        )
        pid = int(instance.get_run(run.run_id).tags[RUN_WORKER_PID_TAG])
        os.kill(pid, signal.SIGKILL)

        def resumed() -> bool:
            tags = instance.get_run(run.run_id).tags
            return tags.get(RESUME_ATTEMPTS_TAG) == "1" and tags.get(RUN_WORKER_PID_TAG) not in (
                None,
                str(pid),
            )

        wait_for(resumed, 60, "the daemon to resume the run in a new run worker")
        wait_for(
            lambda: (
                storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
                and any(
                    "Resuming run from its event log" in e.message
                    for e in storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
                )
            ),
            60,
            "the new run worker to take over",
        )
        (markers / "hold").unlink()  # let the ops finish
        wait_for(
            lambda: instance.get_run(run.run_id).status in FINISHED_STATUSES,
            120,
            "the resumed run to finish",
        )
        assert instance.get_run(run.run_id).status is RunStatus.SUCCESS, daemon.output()
        for step in held:  # not killed and started again: one execution each
            assert (markers / f"{step}.runs").read_text().count("\n") == 1, step
        attempts = storage.get_step_attempts(run_id=run.run_id)
        assert {a.step_key for a in attempts if a.status is StepAttemptStatus.LOST} == set()
        successes = storage.get_events(run.run_id, event_types=["STEP_SUCCESS"])
        assert sorted(e.step_key or "" for e in successes) == sorted(["origin", *held, "total"])
    finally:
        daemon.stop()
        celery_fleet.stop_worker("w2")
        instance.dispose()
