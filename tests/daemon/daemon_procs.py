"""Real daemon processes for tests and benchmarks: a home on PostgreSQL with a job file,
`opgraph daemon run` subprocesses, and waiting helpers (a module name no other dir uses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests import waiting

ROOT = Path(__file__).resolve().parents[2]

JOBS = """
import os
import time

from opgraph import DefaultScheduleStatus, RunRequest, job, op, schedule


@op
def quick() -> int:
    return 1


@job
def tiny():
    quick()


@op
def first() -> int:
    return 1


@op
def slow(n: int) -> int:
    # Waits while the marker file exists, so a test decides when it may finish.
    marker = os.environ.get("DAEMON_TEST_MARKER", "")
    deadline = time.time() + 60
    while marker and os.path.exists(marker) and time.time() < deadline:
        time.sleep(0.05)
    return n + 1


@job
def two_steps():
    slow(first())


@schedule(cron_schedule="* * * * * */2", job=tiny, default_status=DefaultScheduleStatus.RUNNING)
def every_two_seconds(context):
    return RunRequest(run_config={"execution": {"config": {"in_process": {}}}})
"""

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def make_home(path: Path, storage_url: str, **sections: Any) -> Path:
    """OPGRAPH_HOME with instance.yaml (queued coordinator, subprocess launcher) and a
    workspace of one location (`jobs.py`)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "jobs.py").write_text(JOBS)
    config: dict[str, Any] = {
        "storage": {"url": storage_url},
        "run_coordinator": {"queued": {"max_concurrent_runs": 10}},
        "run_launcher": "subprocess",
        "daemon": {"scheduler_interval_seconds": 0.5},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    (path / "instance.yaml").write_text(yaml.safe_dump(config))
    workspace = {
        "load_from": [{"python_file": {"relative_path": "jobs.py", "location_name": "procs"}}]
    }
    (path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OPGRAPH_HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


class DaemonProcess:
    """`python -m flask --app opgraph_app daemon run` (or a script) in its own session."""

    def __init__(self, home: Path, name: str, argv: list[str] | None = None, **env: str):
        self.log_path = home / f"daemon-{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = argv or [sys.executable, "-m", "flask", "--app", "opgraph_app", "daemon", "run"]
        self.process = subprocess.Popen(
            command,
            env=env_for(home, **env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # the daemon and its code servers
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of its session
        except ProcessLookupError:
            pass
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    return waiting.wait_for(condition, what, timeout, poll)
