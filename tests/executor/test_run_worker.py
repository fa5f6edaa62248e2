"""The run worker as a real process: a crash mid-run, then --resume from the event log."""

import os
import subprocess
import sys

import yaml

from opgraph import OpgraphInstance, reconstructable
from storage.records import RunStatus
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
    deadline = time.monotonic() + 20
    while not any(e.event_type == "STEP_START" for e in instance.storage.get_events(run.run_id)):
        assert time.monotonic() < deadline, "the op never started"
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 1  # the op sleeps 30 s: it was interrupted
    events = instance.storage.get_events(run.run_id)
    assert instance.get_run(run.run_id).status is RunStatus.FAILURE
    assert [e.event_type for e in events if e.step_key == "slow"][-1] == "STEP_FAILURE"
    assert "interrupted" in events[-1].message
    instance.dispose()
