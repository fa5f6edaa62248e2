"""A backfill survives its daemon: real `opgraph daemon` processes on PostgreSQL, the active
one kill -9'd three times while it submits a backfill's runs, a standby taking over each
time. Every partition then ran exactly once (its op appends the key to a file), no
partition has two runs, and the backfill ends COMPLETED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill import PartitionSelection, launch_backfill
from opgraph_storage.partitions_base import BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 24
LEASE_NAME = "daemon"

JOBS = """
from pathlib import Path

from opgraph import DailyPartitionsDefinition, in_process_executor, job, op

HERE = Path(__file__).parent


@op
def record(context):
    with open(HERE / "ran.txt", "a") as out:
        out.write(context.partition_key + "\\n")


@job(partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"), executor_def=in_process_executor)
def daily_job():
    record()
"""


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)  # polling storage, not waiting for time to pass
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Daemon:
    def __init__(self, home: Path, name: str):
        self.log_path = home / f"daemon-{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "OPGRAPH_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "opgraph_app", "daemon", "run"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


@pytest.fixture
def home(tmp_path: Path, pg_storage_url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "jobs.py").write_text(JOBS)
    config = {
        "storage": {"url": pg_storage_url},
        "run_coordinator": {"queued": {"max_concurrent_runs": 4}},
        "run_launcher": "subprocess",
        "daemon": {"lease_seconds": 4},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": "jobs.py", "location_name": "crash"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    return home


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def test_kill_9_the_active_daemon_three_times_during_a_backfill(
    home: Path, daemons: list[Daemon]
) -> None:
    from opgraph.workspace import load_workspace

    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    storage = instance.storage
    try:
        daemons.append(Daemon(home, "a"))
        _wait(lambda: storage.get_lease(LEASE_NAME), 60, "the first daemon's lease")
        daemons.append(Daemon(home, "b"))
        last = f"2024-01-{PARTITIONS:02d}"
        backfill = launch_backfill(
            instance,
            workspace,
            "daily_job",
            PartitionSelection(range=("2024-01-01", last)),
            max_runs_in_flight=6,
        )

        def backfill_runs() -> list[Any]:
            return storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))

        for kill in range(3):
            # Kill while the backfill is mid-way: after a few more of its runs exist.
            target = (kill + 1) * PARTITIONS // 5
            _wait(lambda t=target: len(backfill_runs()) >= t, 180, f"{target} backfill runs")
            lease = storage.get_lease(LEASE_NAME)
            active = next(d for d in daemons if d.process.pid == lease.pid)  # type: ignore[union-attr]
            active.kill9()
            _wait(
                lambda old=lease: (now := storage.get_lease(LEASE_NAME)) and now.pid != old.pid,  # type: ignore[union-attr]
                60,
                "a standby to take over",
            )
            daemons.append(Daemon(home, f"standby-{kill}"))  # the next standby
        done = _wait(
            lambda: (
                (b := storage.get_backfill(backfill.backfill_id))
                and b.status is BackfillStatus.COMPLETED
                and b
            ),
            300,
            "the backfill to complete",
        )
        assert done.status is BackfillStatus.COMPLETED
        runs = backfill_runs()
        keys = sorted(r.tags["dagster/partition"] for r in runs)
        expected = [f"2024-01-{d:02d}" for d in range(1, PARTITIONS + 1)]
        assert keys == expected  # one run per partition, none twice
        assert {r.status for r in runs} == {RunStatus.SUCCESS}
        ran = sorted((home / "ran.txt").read_text().split())
        assert ran == expected  # each partition's op ran exactly once
    finally:
        workspace.close()
        instance.dispose()
