"""Partitions: storing a 10,000-partition backfill, the backfill part's submission rate, and
an asset's partition status — each beside a baseline measured in the same process.

    python benchmarks/run.py --suite partitions [--json]

| case | baseline |
| --- | --- |
| launch_backfill of 10,000 daily partitions (rows stored) | storing 10,000 events in batches of 5,000 |
| BACKFILL part: runs created and submitted per second (in-memory launcher) | create_run + submit_run of the same number of runs in a loop |
| BACKFILL part into a queued coordinator: runs queued per second | the RUN_QUEUE part's own dequeue rate of those runs (in-memory launcher), the same process |
| asset partition status of 10,000 partitions with 1,000,000 materialization events (keys + statuses + status string) | the asset's catalog row (get_asset_records) |

OPGRAPH_BENCH_BACKFILL_RUNS sets how many runs the submission cases make (default 2,000);
OPGRAPH_BENCH_STATUS_EVENTS how many materializations the status case stores (default
1,000,000: 100 per partition, in a shuffled order of partitions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import _ScratchPostgres
from opgraph.instance import OpgraphInstance
from opgraph_storage import EventRecord

JOBS = """
from opgraph import DailyPartitionsDefinition, Definitions, asset, define_asset_job, job, op

DAILY = DailyPartitionsDefinition(start_date="1999-01-01")


@op
def noop():
    pass


@job(partitions_def=DAILY)
def daily_job():
    noop()


@job
def plain_job():
    noop()


@asset(partitions_def=DAILY)
def daily_asset():
    return 1


defs = Definitions(jobs=[daily_job, plain_job], assets=[daily_asset])
"""
LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}


def _home(scratch: Path, name: str, url: str, queued: bool = False) -> Path:
    home = scratch / name
    home.mkdir(parents=True)
    (home / "jobs.py").write_text(JOBS)
    config: dict[str, Any] = {"storage": {"url": url}, "run_launcher": LAUNCHER}
    if queued:
        config["run_coordinator"] = {"queued": {"max_concurrent_runs": 1_000_000}}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": str(home / "jobs.py"), "location_name": "bench"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    return home


def _p50(call: Any, times: int = 30) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _case(rows: list[dict], figures: dict, backend: str, home: Path) -> None:
    from opgraph.partitions.backfill import BackfillDaemon, PartitionSelection, launch_backfill
    from opgraph.workspace import load_workspace

    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    try:
        storage = instance.storage
        # 1. launching: 10,000 daily partitions stored in one transaction.
        events = [
            EventRecord(
                run_id="bench", event_type="ENGINE_EVENT", timestamp=time.time(), data={"i": i}
            )
            for i in range(10_000)
        ]
        started = time.perf_counter()
        for start in range(0, len(events), 5000):
            storage.store_events(events[start : start + 5000])
        baseline = time.perf_counter() - started
        selection = PartitionSelection(range=("1999-01-01", "2026-05-18"))
        started = time.perf_counter()
        backfill = launch_backfill(instance, workspace, "daily_job", selection)
        launched = time.perf_counter() - started
        assert backfill.num_partitions == 10_000
        rows.append(
            {
                "case": f"launch_backfill, 10,000 partitions, {backend}",
                "baseline": f"{baseline * 1000:.0f} ms (10,000 events)",
                "measured": f"{launched * 1000:.0f} ms",
            }
        )
        figures[f"launch_10000_{backend}_ms"] = round(launched * 1000, 1)

        # 2. submitting: the backfill part against a plain create + submit loop.
        count = int(os.environ.get("OPGRAPH_BENCH_BACKFILL_RUNS", "2000"))
        started = time.perf_counter()
        for _ in range(count):
            run = instance.create_run(
                "plain_job", code_pointer={"python_file": str(home / "jobs.py")}
            )
            instance.submit_run(run.run_id)
        plain_rate = count / (time.perf_counter() - started)
        last = (count // 2000 + 1) * 2000
        selection = PartitionSelection(range=("1999-01-01", _day(count)))
        backfill = launch_backfill(
            instance, workspace, "daily_job", selection, max_runs_in_flight=last
        )
        rate = _tick_rate(BackfillDaemon(instance, workspace), count, "runs_submitted")
        rows.append(
            {
                "case": f"backfill part: runs submitted per second ({count} runs), {backend}",
                "baseline": f"{plain_rate:.0f} runs/s (create_run + submit_run)",
                "measured": f"{rate:.0f} runs/s",
            }
        )
        figures[f"backfill_runs_per_s_{backend}"] = round(rate, 1)

        _status_case(rows, figures, backend, storage)
    finally:
        workspace.close()
        instance.dispose()


def _tick_rate(part: Any, count: int, counter: str) -> float:
    """A daemon part ticked until its report's `counter` adds up to `count`: per second."""
    started = time.perf_counter()
    done = 0
    while done < count:
        report = part.tick(time.time())
        assert not report.errors, report.errors
        done += report.info.get(counter, 0)
    return count / (time.perf_counter() - started)


def _queued_case(rows: list[dict], figures: dict, backend: str, home: Path) -> None:
    """The backfill part submitting into a queued coordinator (each run QUEUED with its
    RUN_ENQUEUED event), then the RUN_QUEUE part dequeuing and launching those runs."""
    from opgraph.daemon.run_queue import RunQueue
    from opgraph.partitions.backfill import BackfillDaemon, PartitionSelection, launch_backfill
    from opgraph.workspace import load_workspace

    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    try:
        count = int(os.environ.get("OPGRAPH_BENCH_BACKFILL_RUNS", "2000"))
        selection = PartitionSelection(range=("1999-01-01", _day(count)))
        launch_backfill(instance, workspace, "daily_job", selection, max_runs_in_flight=count)
        queued_rate = _tick_rate(BackfillDaemon(instance, workspace), count, "runs_submitted")
        dequeue_rate = _tick_rate(RunQueue(instance, "bench"), count, "launched")
        rows.append(
            {
                "case": f"backfill part into a queued coordinator ({count} runs), {backend}",
                "baseline": f"{dequeue_rate:.0f} runs/s (RUN_QUEUE part dequeues + launches)",
                "measured": f"{queued_rate:.0f} runs/s queued",
            }
        )
        figures[f"backfill_queued_runs_per_s_{backend}"] = round(queued_rate, 1)
        figures[f"dequeue_runs_per_s_{backend}"] = round(dequeue_rate, 1)
    finally:
        workspace.close()
        instance.dispose()


def _status_case(rows: list[dict], figures: dict, backend: str, storage: Any) -> None:
    """One asset with 10,000 daily partitions and (by default) 1,000,000 materializations:
    the keys, the stored statuses and the status string, as assetPartitionStatusesOrError."""
    import random

    from opgraph.partitions.time_window import DailyPartitionsDefinition

    daily = DailyPartitionsDefinition(start_date="1999-01-01", end_date=_day(10_001))
    keys = list(daily.get_partition_keys())
    assert len(keys) == 10_000
    total = int(os.environ.get("OPGRAPH_BENCH_STATUS_EVENTS", "1000000"))
    order = random.Random(16)
    # Every partition but one in ten gets its share; those stay missing.
    materialized = [k for i, k in enumerate(keys) if i % 10]
    started = time.perf_counter()
    stored = 0
    while stored < total:
        batch = [
            EventRecord(
                run_id="bench",
                event_type="ASSET_MATERIALIZATION",
                timestamp=time.time(),
                data={"asset_key": ["status_asset"], "partition": k, "metadata": {}},
            )
            for k in order.choices(materialized, k=min(5000, total - stored))
        ]
        storage.store_events(batch)
        stored += len(batch)
    store_s = time.perf_counter() - started

    def status() -> str:
        found = storage.get_asset_partition_statuses("status_asset")
        every = daily.get_partition_keys()
        return "".join(_STATUS_CHARS.get(found[k].value, ".") if k in found else "." for k in every)

    assert status().count(".") >= 1000
    base = _p50(lambda: storage.get_asset_records(["status_asset"]))
    measured = _p50(status)
    rows.append(
        {
            "case": f"asset partition status, 10,000 partitions, {stored:,} events, {backend}",
            "baseline": f"p50 {base:.2f} ms (catalog row)",
            "measured": f"p50 {measured:.2f} ms",
        }
    )
    figures[f"partition_status_p50_{backend}_ms"] = round(measured, 2)
    figures[f"status_events_stored_per_s_{backend}"] = round(stored / store_s)


_STATUS_CHARS = {"MATERIALIZED": "M", "FAILED": "F", "IN_PROGRESS": "I"}


def _day(count: int) -> str:
    import datetime as dt

    return (dt.date(1999, 1, 1) + dt.timedelta(days=count - 1)).isoformat()


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    figures: dict = {}
    sqlite_home = _home(args.scratch, "sqlite", str(args.scratch / "sqlite.db"))
    _case(rows, figures, "sqlite", sqlite_home)
    queued_home = _home(args.scratch, "sqlite_queued", str(args.scratch / "queued.db"), True)
    _queued_case(rows, figures, "sqlite", queued_home)
    with _ScratchPostgres(args.pg_url) as pg_url:
        _case(rows, figures, "postgres", _home(args.scratch, "postgres", pg_url))
    with _ScratchPostgres(args.pg_url) as pg_url:
        _queued_case(rows, figures, "postgres", _home(args.scratch, "pg_queued", pg_url, True))
    return rows, figures
