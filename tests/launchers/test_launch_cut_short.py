"""A launch cut short: the process that stored RUN_STARTING dies before it starts a run
worker (a daemon kill -9'd mid-launch). Run monitoring starts the worker it never
started, once, and only when that process is really gone; should a second worker exist
after all, only the first to store RUN_START runs the job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opgraph.code_pointer import load_job
from opgraph.daemon.monitoring import RELAUNCHED_AT_TAG, RunMonitor
from opgraph.events import EventType
from opgraph.execution import execute_run
from opgraph.executors.definitions import load_executor
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import LivenessConfig, RunMonitoringConfig
from opgraph.plan import ExecutionPlan
from opgraph.ports import RUN_WORKER_PID_TAG
from opgraph.run_config import validate_run_config
from opgraph.run_lifecycle import append_lifecycle_event, mark_starting
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunStatus

JOBS = """
from pathlib import Path

from opgraph import in_process_executor, job, op


@op
def count():
    with open(Path(__file__).parent / "ran.txt", "a") as out:
        out.write("ran\\n")


@job(executor_def=in_process_executor)
def counted_job():
    count()
"""

GRACE = 2.0  # liveness grace of the monitor under test: the launch counts as cut short after it


@pytest.fixture
def instance_storage_url(storage_url: str) -> str:
    return storage_url  # SQLite and PostgreSQL


@pytest.fixture
def instance(make_instance) -> OpgraphInstance:
    return make_instance(launcher={"subprocess": {}})


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "code" / "jobs.py"
    path.parent.mkdir()
    path.write_text(JOBS)
    return path


def create(instance: OpgraphInstance, jobs_file: Path) -> RunRecord:
    pointer = {
        "python_file": str(jobs_file),
        "attribute": "counted_job",
        "working_directory": str(jobs_file.parent),
    }
    return instance.create_run("counted_job", code_pointer=pointer)


def monitor(instance: OpgraphInstance) -> RunMonitor:
    liveness = LivenessConfig(heartbeat_interval_seconds=GRACE, missed_heartbeats=1)
    return RunMonitor(instance, RunMonitoringConfig(), None, liveness)


def mark_starting_and_die(instance: OpgraphInstance, run_id: str) -> None:
    """Store RUN_STARTING from a process that then exits without starting a worker."""
    script = (
        "import sys\n"
        "from opgraph.instance import OpgraphInstance\n"
        "from opgraph.run_lifecycle import mark_starting\n"
        "instance = OpgraphInstance.get()\n"
        "mark_starting(instance, instance.get_run(sys.argv[1]), 'Starting a run worker.')\n"
        "instance.dispose()\n"
    )
    env = {**os.environ, "OPGRAPH_HOME": str(instance.home)}
    subprocess.run([sys.executable, "-c", script, run_id], env=env, check=True, timeout=120)


def wait_finished(instance: OpgraphInstance, run_id: str, timeout: float = 120) -> RunRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)  # polling the run's status
    log = instance.home / "run_workers" / f"{run_id}.log"
    raise AssertionError(
        f"run {run_id} is {instance.get_run(run_id).status.value}; worker log:\n"
        + (log.read_text() if log.exists() else "(none)")
    )


def engine_messages(instance: OpgraphInstance, run_id: str) -> list[str]:
    events = instance.storage.get_events(run_id, event_types=[EventType.ENGINE_EVENT.value])
    return [event.message for event in events]


def test_a_launch_cut_short_is_relaunched_once(instance, jobs_file):
    run = create(instance, jobs_file)
    mark_starting_and_die(instance, run.run_id)
    starting = instance.get_run(run.run_id)
    assert starting.status is RunStatus.STARTING
    assert RUN_WORKER_PID_TAG not in starting.tags

    now = time.time()
    assert "relaunched" not in monitor(instance).tick(now).info  # within the grace
    report = monitor(instance).tick(now + GRACE + 1)
    assert report.info.get("relaunched") == 1, report

    finished = wait_finished(instance, run.run_id)
    assert finished.status is RunStatus.SUCCESS
    assert RELAUNCHED_AT_TAG in finished.tags
    assert (jobs_file.parent / "ran.txt").read_text() == "ran\n"
    [relaunch] = [m for m in engine_messages(instance, run.run_id) if "cut short" in m]
    assert "is gone and no run worker was recorded" in relaunch


def test_a_slow_launch_by_a_live_process_is_not_relaunched(instance, jobs_file):
    run = create(instance, jobs_file)
    mark_starting(instance, run, "Starting a run worker.")  # this process: alive
    report = monitor(instance).tick(time.time() + GRACE + 1)
    assert "relaunched" not in report.info
    current = instance.get_run(run.run_id)
    assert current.status is RunStatus.STARTING
    assert RELAUNCHED_AT_TAG not in current.tags
    assert not (jobs_file.parent / "ran.txt").exists()


def test_a_second_worker_that_loses_run_start_runs_nothing(instance, jobs_file):
    run = create(instance, jobs_file)
    mark_starting(instance, run, "Starting a run worker.")
    stale = instance.get_run(run.run_id)  # what a second worker read: STARTING
    # The first worker stores RUN_START before the second gets to it.
    assert append_lifecycle_event(instance, run.run_id, EventType.RUN_START, "first worker")

    job = load_job(stale.code_pointer, stale.job_name)
    plan = ExecutionPlan.build(job, validate_run_config(job, stale.run_config))
    executor = load_executor(plan.run_config.executor_class, plan.run_config.executor_config)
    ctx = execute_run(instance, stale, job, plan, executor)

    assert ctx.status is None
    assert not (jobs_file.parent / "ran.txt").exists()
    assert instance.get_run(run.run_id).status is RunStatus.STARTED  # the first worker's
    [message] = [m for m in engine_messages(instance, run.run_id) if "started this run first" in m]
    assert f"pid {os.getpid()}" in message
