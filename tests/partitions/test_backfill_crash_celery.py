"""The issue's crash test at its size: a 2,000-partition backfill whose runs' steps run on
real Celery workers (PostgreSQL, Redis), real `opgraph daemon` processes, the active one
kill -9'd three times with a standby taking over each time. Every partition's op then ran
exactly once, no partition has two runs, all succeeded, and the backfill is COMPLETED. A
second backfill canceled mid-way makes no run after its cancel but the ones of the tick
that was under way (at most its max_runs_in_flight) and ends CANCELED.

OPGRAPH_CRASH_PARTITIONS sets the size (default 2,000)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.partitions.backfill import PartitionSelection, cancel_backfill, launch_backfill
from opgraph_storage.partitions_base import BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus
from tests.celery_fleet import Fleet, make_fleet
from tests.partitions.test_backfill_crash import LEASE_NAME, Daemon, _wait

PARTITIONS = int(os.environ.get("OPGRAPH_CRASH_PARTITIONS", "2000"))
IN_FLIGHT = 40

JOBS = """
import os
from pathlib import Path

from opgraph import DailyPartitionsDefinition, job, op
from opgraph_celery import celery_executor

HERE = Path(__file__).parent


@op
def record(context):
    # One short write with O_APPEND: lines from several workers never interleave.
    fd = os.open(HERE / "ran.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (context.partition_key + "\\n").encode())
    finally:
        os.close(fd)


@job(partitions_def=DailyPartitionsDefinition(start_date="2000-01-01"), executor_def=celery_executor)
def daily_job():
    record()
"""


def _day(n: int) -> str:
    import datetime as dt

    return (dt.date(2000, 1, 1) + dt.timedelta(days=n)).isoformat()


@pytest.fixture
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    home = tmp_path / "home"
    home.mkdir()
    extra = {
        "run_coordinator": {"queued": {"max_concurrent_runs": 24}},
        "run_launcher": {"subprocess": {"warm_start": True}},
        "daemon": {"lease_seconds": 4},
    }
    with make_fleet(request, home, extra_config=extra, worker=False) as fleet:
        (home / "jobs.py").write_text(JOBS)
        location = {"python_file": {"relative_path": "jobs.py", "location_name": "crash"}}
        (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
        fleet.start_worker("w1", concurrency=4)
        yield fleet


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def test_kill_9_three_times_during_a_2000_partition_backfill_on_celery(
    fleet: Fleet, daemons: list[Daemon]
) -> None:
    from opgraph.workspace import load_workspace

    home = fleet.home
    instance = fleet.instance
    workspace = load_workspace(None, home, in_process=True)
    storage = instance.storage
    try:
        daemons.append(Daemon(home, "a"))
        _wait(lambda: storage.get_lease(LEASE_NAME), 60, "the first daemon's lease")
        daemons.append(Daemon(home, "b"))
        backfill = launch_backfill(
            instance,
            workspace,
            "daily_job",
            PartitionSelection(range=(_day(0), _day(PARTITIONS - 1))),
            max_runs_in_flight=IN_FLIGHT,
        )

        def runs_of(backfill_id: str) -> list[Any]:
            return storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))

        def count_of(backfill_id: str) -> int:
            return storage.get_runs_count(RunsFilter(tags={"dagster/backfill": backfill_id}))

        for kill in range(3):
            target = (kill + 1) * PARTITIONS // 5
            _wait(lambda t=target: count_of(backfill.backfill_id) >= t, 1800, f"{target} runs")
            lease = storage.get_lease(LEASE_NAME)
            active = next(d for d in daemons if d.process.pid == lease.pid)  # type: ignore[union-attr]
            active.kill9()
            _wait(
                lambda old=lease: (now := storage.get_lease(LEASE_NAME)) and now.pid != old.pid,  # type: ignore[union-attr]
                60,
                "a standby to take over",
            )
            daemons.append(Daemon(home, f"standby-{kill}"))
        done = _wait(
            lambda: (
                (b := storage.get_backfill(backfill.backfill_id))
                and b.status is BackfillStatus.COMPLETED
                and b
            ),
            1800,
            "the backfill to complete",
        )
        assert done.status is BackfillStatus.COMPLETED
        runs = runs_of(backfill.backfill_id)
        keys = sorted(r.tags["dagster/partition"] for r in runs)
        expected = [_day(n) for n in range(PARTITIONS)]
        assert keys == expected  # one run per partition, none twice
        failed = {
            r.run_id: [e.message for e in storage.get_events(r.run_id) if e.level == "ERROR"]
            for r in runs
            if r.status is not RunStatus.SUCCESS
        }
        assert not failed, failed  # each with why it failed
        ran = sorted((home / "ran.txt").read_text().split())
        assert ran == expected  # each partition's op ran exactly once

        # Cancel: no run after the request but those of the tick under way.
        second = launch_backfill(
            instance,
            workspace,
            "daily_job",
            PartitionSelection(range=(_day(PARTITIONS), _day(PARTITIONS + 199))),
            max_runs_in_flight=10,
        )
        _wait(lambda: count_of(second.backfill_id) >= 10, 600, "the second backfill's runs")
        assert cancel_backfill(instance, second.backfill_id)
        at_cancel = count_of(second.backfill_id)
        _wait(
            lambda: (
                (b := storage.get_backfill(second.backfill_id))
                and b.status is BackfillStatus.CANCELED
            ),
            600,
            "the canceled backfill to end",
        )
        after = count_of(second.backfill_id)
        assert after <= at_cancel + 10, (at_cancel, after)
    finally:
        workspace.close()
