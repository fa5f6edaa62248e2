"""`opgraph dev`: the whole platform from one command, and nothing left when it stops.

Each test runs the real command in a subprocess (webserver, Celery workers, code server,
run worker, and the embedded Redis or the real one), watches every process that ever
runs below it, and checks by pid and start time that none outlives it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
import yaml

from opgraph_storage import create_storage
from opgraph_storage.records import RunStatus, StepAttemptStatus
from tests.deploy.dev_process import JOBS, DevProcess, fetch
from tests.waiting import wait_for
from tests.web_server import free_port


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "code" / "fan_jobs.py"
    path.parent.mkdir()
    path.write_text(JOBS)
    return path


@pytest.fixture
def sessions():
    started: list[DevProcess] = []
    yield started
    for dev in started:
        dev.kill()


def _config(tmp_path: Path, **config) -> Path:
    path = tmp_path / "run_config.yaml"
    path.write_text(yaml.safe_dump({"ops": {"fan": {"config": config}}}))
    return path


def _run_id(output: str) -> str:
    match = re.search(r"/runs/([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _check_once(dev: DevProcess, storage_url: str) -> None:
    code = dev.wait()
    assert code == 0, dev.output
    assert "opgraph UI: http://127.0.0.1:" in dev.output
    assert "code location fan_jobs: LOADED (fan_job)" in dev.output
    run_id = _run_id(dev.output)
    assert f"run {run_id}: SUCCESS" in dev.output
    storage = create_storage(storage_url)
    try:
        assert storage.get_run(run_id).status is RunStatus.SUCCESS
        # Every op ran as a Celery task, claimed by one of dev's workers.
        attempts = storage.get_step_attempts(run_id)
        assert len(attempts) == 6  # fan, 4 x work, total
        assert {a.status for a in attempts} == {StepAttemptStatus.SUCCESS}
        assert all(a.hostname for a in attempts)
    finally:
        storage.dispose()
    # Webserver (+ gunicorn worker, zygote, run worker, code server), workers (+ pool): all gone.
    assert len(dev.seen) >= 6, dev.seen
    assert dev.still_running() == []


def test_once_on_sqlite_and_embedded_redis(tmp_path, code, sessions):
    home = tmp_path / "home"
    args = ["-f", str(code), "--port", str(free_port()), "--job", "fan_job", "--once"]
    args += ["-c", str(_config(tmp_path, width=4))]
    dev = DevProcess(home, args, cwd=tmp_path)
    sessions.append(dev)
    _check_once(dev, f"sqlite:///{home / 'storage' / 'opgraph.db'}")
    assert "broker   embedded Redis redis+socket://" in dev.output
    redis_log = (home / "logs" / "redis.log").read_text()
    assert "ready to accept connections at " + str(home / "dev" / "redis.sock") in redis_log
    assert "Received SIGTERM" in redis_log  # stopped by dev, after the workers


def test_once_on_postgres_and_redis(tmp_path, code, sessions, pg_storage_url, redis_url):
    home = tmp_path / "home"
    home.mkdir()
    queue = f"dev-{uuid.uuid4().hex[:8]}"  # other sessions on this Redis never take ours
    instance = {
        "storage": {"url": pg_storage_url},
        "celery": {"broker_url": redis_url, "default_queue": queue},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(instance))
    args = ["-f", str(code), "--port", str(free_port()), "--job", "fan_job", "--once"]
    args += ["-c", str(_config(tmp_path, width=4))]
    dev = DevProcess(home, args, cwd=tmp_path)
    sessions.append(dev)
    _check_once(dev, pg_storage_url)
    assert f"broker   configured broker {redis_url}" in dev.output
    assert f"workers consume {queue}" in dev.output
    assert not (home / "logs" / "redis.log").exists()


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_move_during_a_run_and_ctrl_c_stops_everything(tmp_path, code, sessions):
    home = tmp_path / "home"
    port = free_port()
    # One worker with one slot and 12 ops of 0.25 s: the queue fills, then drains.
    args = ["-f", str(code), "--port", str(port), "--job", "fan_job"]
    args += ["--concurrency", "1", "--log-format", "json"]
    args += ["-c", str(_config(tmp_path, width=12, seconds=0.25))]
    dev = DevProcess(home, args, cwd=tmp_path)
    sessions.append(dev)
    dev.wait_for_line("launched fan_job")
    depths, successes = [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = fetch(f"http://127.0.0.1:{port}/metrics")
        depths.append(_sample(text, "opgraph_celery_queue_depth", queue="opgraph"))
        successes.append(_sample(text, "opgraph_step_attempts", queue="opgraph", status="SUCCESS"))
        if successes[-1] == 14:  # fan, 12 x work, total
            break
        time.sleep(0.1)
    assert max(depths) >= 5, depths  # steps waited in the queue...
    assert depths[-1] == 0, depths  # ...and the queue drained
    assert successes == sorted(successes) and successes[-1] == 14, successes
    assert len(set(successes)) >= 4, successes  # counted as they finished, not at the end
    dev.wait_for_line("Press Ctrl-C to stop everything.")  # the run has finished
    text = fetch(f"http://127.0.0.1:{port}/metrics")
    assert _sample(text, "opgraph_runs", status="SUCCESS") == 1
    assert _sample(text, "opgraph_celery_workers") == 1
    assert _sample(text, "opgraph_celery_queue_consumers", queue="opgraph") == 1
    assert _sample(text, "opgraph_step_duration_seconds_count") == 14
    assert _sample(text, "opgraph_step_duration_seconds_bucket", le="0.1") == 2  # fan, total
    # dev started the daemon, and it beats: a later scrape sees the age fall (a new beat),
    # however long a beat takes on a loaded machine.
    assert 'opgraph_daemon_heartbeat_age_seconds{daemon="DAEMON"}' in text
    ages = [_sample(text, "opgraph_daemon_heartbeat_age_seconds", daemon="DAEMON")]

    def renewed() -> bool:
        scraped = fetch(f"http://127.0.0.1:{port}/metrics")
        ages.append(_sample(scraped, "opgraph_daemon_heartbeat_age_seconds", daemon="DAEMON"))
        return ages[-1] < ages[-2]

    wait_for(renewed, "the daemon's next heartbeat", timeout=120, poll=0.5)

    dev.interrupt()
    assert dev.wait(60) == 0, dev.output
    assert "nothing left running" in dev.output
    assert dev.still_running() == []

    # --log-format json: the worker's lines about a step name its run and step...
    run_id = _run_id(dev.output)
    records = [
        json.loads(line)
        for line in (home / "logs" / "worker-dev1.log").read_text().splitlines()
        if line.startswith("{")  # Celery prints its start banner as text
    ]
    done = [r for r in records if "succeeded in" in r["message"]]
    assert len(done) == 14, records[-5:]
    assert {r["run_id"] for r in done} == {run_id}
    assert {r["step_key"] for r in done} >= {f"work[part_{i}]" for i in range(12)}
    assert {r["service"] for r in done} == {"worker"}
    # ...and so does a log line the op writes (captured with the step's stderr).
    err = home / "compute_logs" / run_id / "work[part_3].err"
    [working] = [json.loads(line) for line in err.read_text().splitlines()]
    assert (working["message"], working["step_key"], working["run_id"]) == (
        "working",
        "work[part_3]",
        run_id,
    )
    webserver_lines = (home / "logs" / "webserver.log").read_text().splitlines()
    assert webserver_lines and all(json.loads(line)["service"] for line in webserver_lines)


def test_ctrl_c_during_a_run_cancels_it_and_leaves_nothing(tmp_path, code, sessions):
    home = tmp_path / "home"
    port = free_port()
    args = ["-f", str(code), "--port", str(port), "--job", "fan_job", "--no-daemon"]
    args += ["-c", str(_config(tmp_path, width=2, seconds=300))]
    dev = DevProcess(home, args, cwd=tmp_path)
    sessions.append(dev)
    dev.wait_for_line("launched fan_job")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # both ops are running on the worker
        text = fetch(f"http://127.0.0.1:{port}/metrics")
        if _sample(text, "opgraph_step_attempts", queue="opgraph", status="RUNNING") == 2:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the ops never ran:\n{dev.output}")
    dev.interrupt()
    assert dev.wait(200) == 0, dev.output
    assert dev.still_running() == []
    storage = create_storage(f"sqlite:///{home / 'storage' / 'opgraph.db'}")
    try:
        run = storage.get_run(_run_id(dev.output))
        assert run.status in (RunStatus.CANCELED, RunStatus.FAILURE), run.status
        # Stopped, not waited out: neither 300 s op finished.
        ended = storage.get_events(run.run_id, event_types=["STEP_SUCCESS"])
        assert [e.step_key for e in ended if e.step_key.startswith("work")] == []
    finally:
        storage.dispose()


def test_a_killed_celery_worker_is_restarted_and_runs_the_next_job(
    tmp_path, code, sessions, pg_storage_url, redis_url
):
    """A worker that dies (SIGKILL here; an unrecoverable broker error in the wild) is
    started again by `opgraph dev`, as a Compose or Kubernetes restart policy would."""
    from opgraph_app.dev import runs
    from opgraph_app.dev.client import WebClient
    from opgraph_celery.fleet import HEARTBEAT_PREFIX

    home = tmp_path / "home"
    home.mkdir()
    queue = f"dev-{uuid.uuid4().hex[:8]}"
    instance = {
        "storage": {"url": pg_storage_url},
        "celery": {"broker_url": redis_url, "default_queue": queue},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(instance))
    port = free_port()
    dev = DevProcess(home, ["-f", str(code), "--port", str(port), "--no-daemon"], cwd=tmp_path)
    sessions.append(dev)
    dev.wait_for_line("Press Ctrl-C to stop everything.")
    storage = create_storage(pg_storage_url)
    try:

        def worker_pids() -> set[int]:
            return {
                int(beat.info["pid"])
                for name, beat in storage.get_daemon_heartbeats().items()
                if name.startswith(HEARTBEAT_PREFIX) and queue in beat.info.get("queues", [])
            }

        [first] = _wait_for(worker_pids, "the worker's heartbeat")
        os.kill(first, signal.SIGKILL)
        dev.wait_for_line("worker dev1 exited with code -9; restarting it")
        [second] = _wait_for(lambda: worker_pids() - {first}, "the new worker's heartbeat")
        assert second != first and dev.popen.poll() is None
        client = WebClient(f"http://127.0.0.1:{port}")
        location, executor = runs.find_job(client.locations(), "fan_job")
        run_id = client.launch(location, "fan_job", runs.celery_run_config({}, executor))
        _wait_for(
            lambda: storage.get_run(run_id).status in (RunStatus.SUCCESS, RunStatus.FAILURE),
            "the run on the restarted worker",
        )
        assert storage.get_run(run_id).status is RunStatus.SUCCESS
        assert {a.hostname for a in storage.get_step_attempts(run_id)} != {None}
    finally:
        storage.dispose()
    dev.interrupt()
    assert dev.wait(60) == 0, dev.output
    assert dev.still_running() == []


def _wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value
