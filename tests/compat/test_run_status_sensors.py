"""Run status sensors: the daemon's sensor part ticked with an injected clock (SQLite and
PostgreSQL), and a real `daemon run` process on PostgreSQL; real runs (subprocess
launcher) of a real code location."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from opgraph.daemon.instigators import SENSOR_NAME_TAG, find_instigator, save_data
from opgraph.daemon.sensors import SensorDaemon
from opgraph.instance import OpgraphInstance
from opgraph.workspace import load_workspace
from opgraph.workspace.runs import submit_location_run
from opgraph_storage.records import FINISHED_STATUSES, InstigatorType, RunsFilter, TickStatus
from tests.compat.test_dagster_compat import JOBS_DIR


@pytest.fixture
def env(tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RUN_STATUS_SENSOR_DIR", str(tmp_path))
    config = {"storage": {"url": storage_url}, "run_launcher": "subprocess"}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    jobs = str(JOBS_DIR / "run_status_sensors.py")
    workspace_yaml = {
        "load_from": [{"python_file": {"relative_path": jobs, "location_name": "loc"}}]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace_yaml))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield instance, workspace, tmp_path
    workspace.close()
    instance.dispose()


def run_to_end(instance, workspace, job_name: str):
    """Launch a real run of the location and wait for its status to be final."""
    run = submit_location_run(instance, workspace.get("loc"), job_name)
    return run_to_end_existing(instance, run.run_id)


def notify_runs(instance):
    return instance.storage.get_runs(RunsFilter(tags={SENSOR_NAME_TAG: "after_ok"}))


def failure_lines(folder: Path) -> list[str]:
    log = folder / "failures.log"
    return log.read_text().splitlines() if log.exists() else []


def test_run_status_sensors_fire_once_per_run(env):
    instance, workspace, folder = env
    sensors = SensorDaemon(instance, workspace)
    started = time.time()
    sensors.tick(started)  # both sensors run by default: their cursor starts now
    first_bad = run_to_end(instance, workspace, "bad_job")
    ok = run_to_end(instance, workspace, "ok_job")
    bad = run_to_end(instance, workspace, "bad_job")
    assert (ok.status.value, bad.status.value) == ("SUCCESS", "FAILURE")

    report = sensors.tick(started + 30)
    assert report.errors == []
    [requested] = notify_runs(instance)
    assert requested.job_name == "notify_job"
    assert requested.run_config == {"ops": {"note": {"config": {"source_run": ok.run_id}}}}
    lines = failure_lines(folder)
    assert sorted(line.split()[1] for line in lines) == sorted([first_bad.run_id, bad.run_id])
    assert all("exploded on purpose" in line and "'explode'" in line for line in lines)

    # The requested run succeeds too, but only ok_job is monitored: no loop. Later ticks
    # fire for nothing already seen.
    requested = run_to_end_existing(instance, requested.run_id)
    assert requested.status.value == "SUCCESS"
    sensors.tick(started + 60)
    sensors.tick(started + 90)
    assert len(notify_runs(instance)) == 1
    assert len(failure_lines(folder)) == 2
    ticks = instance.storage.get_ticks("loc:after_ok")
    assert [t.status for t in ticks][:2] == [TickStatus.SKIPPED, TickStatus.SKIPPED]
    assert TickStatus.SUCCESS in [t.status for t in ticks]

    # A second ok_job run fires the sensor once more, for that run only.
    second = run_to_end(instance, workspace, "ok_job")
    sensors.tick(started + 120)
    configs = sorted(
        r.run_config["ops"]["note"]["config"]["source_run"] for r in notify_runs(instance)
    )
    assert configs == sorted([ok.run_id, second.run_id])


def started_lines(folder: Path) -> list[list[str]]:
    log = folder / "started.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_a_status_runs_pass_through_fires_once_per_run(env):
    """STARTED is left for SUCCESS or FAILURE long before the tick: the sensor still fires
    once for each monitored run that started after it was turned on, never for the rest."""
    instance, workspace, folder = env
    before = run_to_end(instance, workspace, "bad_job")  # before the sensor was on
    sensors = SensorDaemon(instance, workspace)
    started = time.time()
    sensors.tick(started)  # the cursor starts at the newest event
    assert started_lines(folder) == []
    first = run_to_end(instance, workspace, "bad_job")
    run_to_end(instance, workspace, "ok_job")  # not monitored
    second = run_to_end(instance, workspace, "bad_job")
    assert sensors.tick(started + 30).errors == []
    assert sorted(started_lines(folder)) == sorted(
        [["bad_job", first.run_id, "RUN_START"], ["bad_job", second.run_id, "RUN_START"]]
    )
    assert before.run_id not in {line[1] for line in started_lines(folder)}
    sensors.tick(started + 60)  # nothing new: nothing fires again
    assert len(started_lines(folder)) == 2
    [tick, *_] = instance.storage.get_ticks("loc:bad_job_started")
    assert tick.status is TickStatus.SKIPPED
    [second_start] = instance.storage.get_events(second.run_id, event_types=["RUN_START"])
    # (later RUN_START events too: the run after_ok requested for ok_job, not monitored here)
    assert json.loads(tick.cursor)["after_id"] >= second_start.storage_id


def test_run_status_sensors_take_every_status_a_run_reaches():
    from opgraph import DagsterRunStatus, run_status_sensor
    from opgraph.errors import DefinitionError

    for status in ("QUEUED", "STARTING", "STARTED", "CANCELING", "CANCELED", "SUCCESS"):
        sensor = run_status_sensor(run_status=DagsterRunStatus(status))(lambda context: None)
        assert sensor.run_status is DagsterRunStatus(status)
    with pytest.raises(DefinitionError, match=r"run_status .*NOT_STARTED.* is not supported"):
        run_status_sensor(run_status=DagsterRunStatus.NOT_STARTED)(lambda context: None)


def run_to_end_existing(instance, run_id: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_repeated_evaluation_requests_no_second_run(env):
    """A crash after submitting and before saving the cursor repeats the evaluation: the
    run key (sensor, monitored run, request) keeps the request from making a second run."""
    instance, workspace, _folder = env
    sensors = SensorDaemon(instance, workspace)
    started = time.time()
    sensors.tick(started)
    ok = run_to_end(instance, workspace, "ok_job")
    sensors.tick(started + 30)
    assert len(notify_runs(instance)) == 1
    item = find_instigator(instance, workspace, InstigatorType.SENSOR, "after_ok")
    rewound = {**item.data, "run_status_cursor": {"after": started, "seen": []}}
    save_data(instance, item, rewound, started + 30)
    sensors.tick(started + 60)
    [requested] = notify_runs(instance)
    assert requested.run_config["ops"]["note"]["config"]["source_run"] == ok.run_id
    cursor = json.loads(instance.storage.get_ticks("loc:after_ok", limit=1)[0].cursor)
    assert ok.run_id in cursor["seen"]


QUICK_SENSORS = """
from opgraph import (
    DagsterRunStatus, DefaultSensorStatus, Definitions, RunRequest, job, op, run_status_sensor,
)


@op
def work():
    return 1


@op(config_schema={"source_run": str})
def note(context):
    return context.op_config["source_run"]


@job
def ok_job():
    work()


@job
def notify_job():
    note()


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[ok_job],
    request_job=notify_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
)
def after_ok(context):
    config = {"ops": {"note": {"config": {"source_run": context.dagster_run.run_id}}}}
    return RunRequest(run_config=config)


@run_status_sensor(
    run_status=DagsterRunStatus.STARTED,
    monitored_jobs=[ok_job],
    request_job=notify_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
)
def ok_started(context):
    config = {"ops": {"note": {"config": {"source_run": context.dagster_run.run_id}}}}
    return RunRequest(run_config=config)


defs = Definitions(jobs=[ok_job, notify_job], sensors=[after_ok, ok_started])
"""


def test_the_daemon_process_runs_a_run_status_sensor(tmp_path: Path, pg_storage_url: str):
    from tests.daemon.daemon_procs import DaemonProcess, wait_for

    home = tmp_path / "home"
    home.mkdir()
    (home / "jobs.py").write_text(QUICK_SENSORS)
    config = {"storage": {"url": pg_storage_url}, "run_launcher": "subprocess"}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": "jobs.py", "location_name": "loc"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    daemon = DaemonProcess(home, "run-status")
    try:

        def watching():
            finished = instance.storage.get_instigator_state("loc:after_ok")
            started = instance.storage.get_instigator_state("loc:ok_started")
            return (
                finished is not None
                and "run_status_cursor" in finished.data
                and started is not None
                and "status_change_cursor" in started.data
            )

        wait_for(watching, 120, "the daemon's first tick of the sensors")
        ok = run_to_end(instance, workspace, "ok_job")
        [requested] = wait_for(lambda: notify_runs(instance), 120, "the requested run")
        assert requested.run_config["ops"]["note"]["config"]["source_run"] == ok.run_id
        on_start = RunsFilter(tags={SENSOR_NAME_TAG: "ok_started"})
        [from_start] = wait_for(
            lambda: instance.storage.get_runs(on_start), 120, "the run requested on STARTED"
        )
        assert from_start.run_config["ops"]["note"]["config"]["source_run"] == ok.run_id
        done = run_to_end_existing(instance, requested.run_id)
        assert done.status.value == "SUCCESS"
        # Ticks go on; no second run for the same ok_job run.
        ticks_now = len(instance.storage.get_ticks("loc:after_ok"))
        wait_for(
            lambda: len(instance.storage.get_ticks("loc:after_ok")) >= ticks_now + 2,
            120,
            "two more ticks",
        )
        assert len(notify_runs(instance)) == 1
        assert len(instance.storage.get_runs(on_start)) == 1
    finally:
        daemon.stop()
        workspace.close()
        instance.dispose()
