"""The Celery run launcher: run workers as tasks on the fleet's runs queue."""

import os
import signal
import time

import pytest

from opgraph import OpgraphInstance, reconstructable
from opgraph.daemon.monitoring import RESUME_ATTEMPTS_TAG, RunMonitor
from opgraph.instance_config import RunMonitoringConfig, instance_config_model
from opgraph.ports import RUN_WORKER_PID_TAG
from opgraph.submit import submit_job_run
from opgraph_celery.run_launcher import RUN_TASK_TAG
from opgraph_storage.records import FINISHED_STATUSES, RunStatus
from tests.celery_fleet import BROKERS
from tests.fleet import jobs


def launcher_instance(fleet, runs_queue, **launcher_config):
    config = instance_config_model().model_validate(  # with the plugins' sections
        {
            "storage": {"url": fleet.storage_url},
            "celery": {"broker_url": fleet.broker_url, "default_queue": fleet.queue},
            "run_launcher": {"celery": {"queue": runs_queue, **launcher_config}},
        }
    )
    return OpgraphInstance(fleet.home, config)


def wait_finished(instance, run_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {instance.get_run(run_id).status}")


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
def test_run_worker_as_a_celery_task_with_any_executor(celery_fleet, tmp_path):
    runs_queue = f"{celery_fleet.queue}-runs"
    celery_fleet.start_worker("runner", queues=[runs_queue], concurrency=2)
    instance = launcher_instance(celery_fleet, runs_queue)
    try:
        pointer = reconstructable(jobs.naps).pointer
        for execution in ({"multiprocess": {"max_concurrent": 2}}, {"celery": {}}):
            run = submit_job_run(
                instance,
                pointer,
                "naps",
                {"execution": {"config": execution}},
                {"test/marker_dir": str(tmp_path)},
            )
            assert run.status is RunStatus.STARTING
            finished = wait_finished(instance, run.run_id)
            assert finished.status is RunStatus.SUCCESS, execution
            assert finished.tags[RUN_TASK_TAG] == f"run-{run.run_id}"
            assert instance.run_launcher.check_run_worker_health(finished).value in (
                "RUNNING",
                "DEAD",
            )
    finally:
        celery_fleet.stop_worker("runner")
        instance.dispose()


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
def test_terminate_stops_the_run_worker_task(celery_fleet, tmp_path):
    runs_queue = f"{celery_fleet.queue}-runs2"
    celery_fleet.start_worker("runner2", queues=[runs_queue], concurrency=1)
    instance = launcher_instance(celery_fleet, runs_queue)
    try:
        pointer = reconstructable(jobs.long_job).pointer
        run = submit_job_run(
            instance,
            pointer,
            "long_job",
            {"execution": {"config": {"in_process": {}}}},
            {"test/marker_dir": str(tmp_path), "test/sleep": "60"},
        )
        deadline = time.monotonic() + 30
        while instance.get_run(run.run_id).status is not RunStatus.STARTED:
            assert time.monotonic() < deadline, "run never started"
            time.sleep(0.1)
        assert instance.run_launcher.terminate(run.run_id)
        finished = wait_finished(instance, run.run_id, timeout=30)
        assert finished.status is RunStatus.FAILURE  # SIGTERM without a cancel request
        last = instance.storage.get_events(run.run_id)[-1]
        assert "interrupted" in last.message
    finally:
        celery_fleet.stop_worker("runner2")
        instance.dispose()


def test_run_monitoring_resumes_a_run_whose_celery_run_worker_died(celery_fleet, tmp_path):
    runs_queue = f"{celery_fleet.queue}-runs3"
    celery_fleet.start_worker("runner3", queues=[runs_queue], concurrency=1)
    instance = launcher_instance(celery_fleet, runs_queue, heartbeat_timeout_seconds=8)
    monitor = RunMonitor(instance, RunMonitoringConfig(max_resume_run_attempts=1))
    try:
        run = jobs.submit_resumable(instance, tmp_path, {"in_process": {}})
        deadline = time.monotonic() + 30
        while not (tmp_path / "held_while_marker.runs").exists():
            assert time.monotonic() < deadline, "the held step never started"
            time.sleep(0.05)
        # The run task recorded where its run worker runs; the op runs inside it.
        pid = int(instance.get_run(run.run_id).tags[RUN_WORKER_PID_TAG])
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while instance.get_run(run.run_id).tags.get(RESUME_ATTEMPTS_TAG) != "1":
            monitor.tick(time.time())
            assert time.monotonic() - killed_at < 120, "the dead run worker was never replaced"
            time.sleep(0.2)
        resumed = instance.get_run(run.run_id)
        assert resumed.status is RunStatus.STARTED
        assert resumed.tags[RUN_TASK_TAG].startswith(f"run-{run.run_id}-resume-")
        # Found dead by the launcher's health check of the worker's pid (the run task runs
        # on this host), not by waiting out the heartbeat timeout (8 s): the message says.
        [resuming] = [
            e.message
            for e in instance.storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
            if "resuming the run" in e.message
        ]
        assert resuming.startswith(f"Run worker (pid {pid}) is no longer running"), resuming
        # The new worker is alive to the launcher at once: no second resume while it starts.
        for _ in range(3):
            monitor.tick(time.time())
        assert instance.get_run(run.run_id).tags[RESUME_ATTEMPTS_TAG] == "1"
        (tmp_path / "hold").unlink()
        finished = wait_finished(instance, run.run_id)
        assert finished.status is RunStatus.SUCCESS
        assert jobs.runs_of(tmp_path, "counted_first") == 1  # done before the crash: not run again
        assert jobs.runs_of(tmp_path, "held_while_marker") == 2  # in flight at the crash: run again
    finally:
        celery_fleet.stop_worker("runner3")
        instance.dispose()


# Imports in the test (which submits the run) but not in the run worker the task starts.
FAILS_IN_THE_RUN_WORKER = """
import sys

if "run_worker" in sys.argv[0]:
    raise ImportError("warehouse_client cannot reach the warehouse (VPN down?)")

from opgraph import job, op


@op
def hello():
    return 1


@job
def hello_job():
    hello()
"""


def test_a_run_worker_that_dies_before_starting_fails_its_run_at_once(celery_fleet, tmp_path):
    """No daemon runs here: the run task that waited for the worker fails the run."""
    runs_queue = f"{celery_fleet.queue}-runs"
    celery_fleet.start_worker("runner", queues=[runs_queue], concurrency=1)
    instance = launcher_instance(celery_fleet, runs_queue)
    jobs_file = tmp_path / "breaks_in_worker.py"
    jobs_file.write_text(FAILS_IN_THE_RUN_WORKER)
    pointer = {"python_file": str(jobs_file), "working_directory": str(tmp_path)}
    try:
        run = submit_job_run(instance, pointer, "hello_job", {}, {})
        finished = wait_finished(instance, run.run_id)
    finally:
        celery_fleet.stop_worker("runner")
        instance.dispose()
    assert finished.status is RunStatus.FAILURE
    [failure] = instance.storage.get_events(run.run_id, event_types=["RUN_FAILURE"])
    assert "warehouse_client cannot reach the warehouse" in failure.message
