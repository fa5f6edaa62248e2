"""The run worker as a real process: a crash mid-run, then --resume from the event log."""

import os
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa
import yaml

from opgraph import OpgraphInstance, reconstructable
from opgraph.instance_config import InstanceConfig
from opgraph_storage import normalize_url
from opgraph_storage.records import RunStatus
from tests.executor import jobs


def _worker(home, run_id, *extra):
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "opgraph.run_worker", run_id, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_resume_after_the_run_worker_died(tmp_path, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    instance = OpgraphInstance.get(tmp_path)
    pointer = reconstructable(jobs.resumable).pointer
    run = instance.create_run(
        "resumable", code_pointer=pointer, tags={"test/marker_dir": str(tmp_path)}
    )

    crashed = _worker(tmp_path, run.run_id)
    assert crashed.returncode == 17, crashed.stderr
    assert instance.get_run(run.run_id).status is RunStatus.STARTED
    refused = _worker(tmp_path, run.run_id)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = _worker(tmp_path, run.run_id, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert instance.get_run(run.run_id).status is RunStatus.SUCCESS
    assert (tmp_path / "count_runs").read_text() == "1"  # the finished step did not run again
    events = instance.storage.get_events(run.run_id)
    die_once = [(e.event_type, e.attempt) for e in events if e.step_key == "die_once"]
    assert die_once[0] == ("STEP_START", 0)
    assert ("STEP_RESTARTED", 1) in die_once and die_once[-1][0] == "STEP_SUCCESS"
    instance.dispose()


def test_broken_code_pointer_fails_the_run_with_the_reason(tmp_path, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    broken = tmp_path / "broken_jobs.py"
    broken.write_text("from opgraph import job\nraise RuntimeError('import-time bug')\n")
    instance = OpgraphInstance.get(tmp_path)
    run = instance.create_run("anything", code_pointer={"python_file": str(broken)})
    finished = _worker(tmp_path, run.run_id)
    assert finished.returncode == 1
    assert instance.get_run(run.run_id).status is RunStatus.FAILURE
    failure = instance.storage.get_events(run.run_id)[-1]
    assert failure.event_type == "RUN_FAILURE"
    assert "import-time bug" in failure.message and "broken_jobs.py" in failure.message
    instance.dispose()


def test_sigterm_stops_an_op_running_in_process(tmp_path, sqlite_url):
    import signal
    import time

    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    instance = OpgraphInstance.get(tmp_path)
    run = instance.create_run(
        "sleepy",
        code_pointer=reconstructable(jobs.sleepy).pointer,
        run_config={"execution": {"config": {"in_process": {}}}},
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "opgraph.run_worker", run.run_id],
        env={**os.environ, "OPGRAPH_HOME": str(tmp_path)},
    )
    deadline = time.monotonic() + 120  # generous: a loaded machine
    while not any(e.event_type == "STEP_START" for e in instance.storage.get_events(run.run_id)):
        assert time.monotonic() < deadline, "the op never started"
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 1  # the op sleeps 30 s: it was interrupted
    events = instance.storage.get_events(run.run_id)
    assert instance.get_run(run.run_id).status is RunStatus.FAILURE
    assert [e.event_type for e in events if e.step_key == "slow"][-1] == "STEP_FAILURE"
    assert "interrupted" in events[-1].message
    instance.dispose()


def _start_held_run(instance: OpgraphInstance, home, executor: str = "in_process"):
    """A run worker for `held_in_the_middle`, once its middle step waits for `hold`."""
    (home / "hold").touch()
    run = instance.create_run(
        "held_in_the_middle",
        code_pointer=reconstructable(jobs.held_in_the_middle).pointer,
        run_config={"execution": {"config": {executor: {}}}},
        tags={"test/marker_dir": str(home)},
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "opgraph.run_worker", run.run_id],
        env={**os.environ, "OPGRAPH_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (home / "waiting").exists():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"the held step never started: {worker.communicate()[0]}")
        time.sleep(0.05)
    return run, worker


def _assert_held_run_succeeded(instance: OpgraphInstance, run_id: str) -> None:
    assert instance.get_run(run_id).status is RunStatus.SUCCESS
    events = instance.storage.get_events(run_id)
    for step in ("one", "wait_for_release", "add_one"):  # not one event lost
        kinds = [e.event_type for e in events if e.step_key == step]
        assert kinds[0] == "STEP_START" and "STEP_SUCCESS" in kinds, (step, kinds)


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_run_survives_the_database_dropping_its_connections(tmp_path, pg_storage_url, executor):
    # Our own application_name, so that only this run's connections are dropped.
    name = f"opgraph-drop-{uuid.uuid4().hex[:8]}"
    url = sa.make_url(pg_storage_url).update_query_dict({"application_name": name})
    storage = {"url": url.render_as_string(hide_password=False)}
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": storage}))
    instance = OpgraphInstance.get(tmp_path)
    run, worker = _start_held_run(instance, tmp_path, executor)
    admin = sa.create_engine(normalize_url(pg_storage_url), isolation_level="AUTOCOMMIT")
    try:
        # As on a database restart or failover: every connection of the run is cut.
        with admin.connect() as conn:
            dropped = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).scalar_one()
        assert dropped >= 1
        (tmp_path / "hold").unlink()
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
    finally:
        if worker.poll() is None:
            worker.kill()
        admin.dispose()
    _assert_held_run_succeeded(instance, run.run_id)
    instance.dispose()


def test_a_run_waits_out_a_database_outage(tmp_path, pg_storage_url):
    from tests.tcp_proxy import TcpProxy

    server = sa.make_url(normalize_url(pg_storage_url))
    proxy = TcpProxy("127.0.0.1", 0, target_port=server.port or 5432)
    proxy.start()
    storage = {
        "url": server.set(port=proxy.port).render_as_string(hide_password=False),
        "reconnect_timeout_seconds": 30,
    }
    # The run worker reaches the database through the proxy (instance.yaml); the test
    # watches it directly.
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": storage}))
    direct = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": pg_storage_url}})
    )
    run, worker = _start_held_run(direct, tmp_path)
    try:
        proxy.cut()  # the database is gone: connections drop, new ones are refused
        (tmp_path / "hold").unlink()  # the step ends and its events wait to be written
        time.sleep(3)
        assert worker.poll() is None  # still waiting for the database, not failed
        proxy = TcpProxy("127.0.0.1", proxy.port, target_port=server.port or 5432)
        proxy.start()  # the database is back
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
    finally:
        if worker.poll() is None:
            worker.kill()
        proxy.stop()
    _assert_held_run_succeeded(direct, run.run_id)
    direct.dispose()
