"""A partition's run end to end on real processes: the scheduler ticks a schedule built from
a partitioned job, and the run worker (a subprocess) runs the partition with its config,
tags and time window; the same for a partitioned asset job."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunsFilter, RunStatus

JOBS = """
import json
from pathlib import Path

from opgraph import (
    DailyPartitionsDefinition, Definitions, asset, build_schedule_from_partitioned_job,
    daily_partitioned_config, define_asset_job, job, op,
)

HERE = Path(__file__).parent


@daily_partitioned_config(start_date="2024-01-01", timezone="Europe/Berlin")
def day_config(start, end):
    return {"ops": {"record": {"config": {"day": start.strftime("%Y-%m-%d")}}}}


@op(config_schema={"day": str})
def record(context):
    window = context.partition_time_window
    hours = (window.end.timestamp() - window.start.timestamp()) / 3600
    out = {"config": context.op_config["day"], "key": context.partition_key, "hours": hours}
    (HERE / f"op-{context.partition_key}.json").write_text(json.dumps(out))


@job(config=day_config)
def record_job():
    record()


DAILY = DailyPartitionsDefinition(start_date="2024-01-01", timezone="Europe/Berlin")


@asset(partitions_def=DAILY)
def daily_total(context):
    return context.partition_key


@asset(partitions_def=DAILY)
def daily_report(context, daily_total):
    (HERE / f"asset-{context.partition_key}.json").write_text(json.dumps(daily_total))


# No partitions_def=: the job's (and so its schedule's) is its assets', as in Dagster.
assets_job = define_asset_job("assets_job", selection=["daily_total", "daily_report"])

defs = Definitions(
    assets=[daily_total, daily_report],
    jobs=[record_job, assets_job],
    schedules=[
        build_schedule_from_partitioned_job(record_job, hour_of_day=1),
        build_schedule_from_partitioned_job(assets_job, hour_of_day=2),
    ],
)
"""

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def env(tmp_path: Path, make_instance: Any) -> Any:
    from opgraph.workspace import load_workspace

    instance: OpgraphInstance = make_instance(
        launcher={"subprocess": {"terminate_grace_seconds": 5}}
    )
    code = tmp_path / "code"
    code.mkdir()
    (code / "partition_jobs.py").write_text(JOBS)
    location = {
        "python_file": {
            "relative_path": str(code / "partition_jobs.py"),
            "location_name": "loc",
            "working_directory": str(code),
        }
    }
    (instance.home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    workspace = load_workspace(None, instance.home, in_process=True)
    yield instance, workspace, code
    workspace.close()


def _wait(instance: OpgraphInstance, run_id: str, timeout: float = 90) -> RunRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)
    log = instance.home / "run_workers" / f"{run_id}.log"
    raise AssertionError(f"run {run_id} did not finish:\n{log.read_text() if log.exists() else ''}")


def test_scheduled_partitions_run_in_the_run_worker(env: Any) -> None:
    from opgraph.daemon.instigators import find_instigator, set_running
    from opgraph.daemon.scheduler import Scheduler
    from opgraph_storage.records import InstigatorType

    instance, workspace, code = env
    # 02:30 in Berlin on April 1st: both schedules (01:00 and 02:00) are due once.
    now = dt.datetime(2024, 4, 1, 2, 30, tzinfo=BERLIN).timestamp()
    for name in ("record_job_schedule", "assets_job_schedule"):
        item = find_instigator(instance, workspace, InstigatorType.SCHEDULE, name)
        set_running(instance, item, True, now - 3 * 3600)
    report = Scheduler(instance, workspace).tick(now)
    assert report.errors == []
    runs = {r.job_name: r for r in instance.storage.get_runs(RunsFilter())}
    assert sorted(runs) == ["assets_job", "record_job"]
    for run in runs.values():
        assert run.tags["dagster/partition"] == "2024-03-31"
        finished = _wait(instance, run.run_id)
        assert finished.status is RunStatus.SUCCESS, [
            e.event_type for e in instance.storage.get_events(run.run_id)
        ]
    assert runs["record_job"].run_config == {"ops": {"record": {"config": {"day": "2024-03-31"}}}}
    # The spring-forward day in Berlin has 23 hours.
    recorded = json.loads((code / "op-2024-03-31.json").read_text())
    assert recorded == {"config": "2024-03-31", "key": "2024-03-31", "hours": 23.0}
    assert json.loads((code / "asset-2024-03-31.json").read_text()) == "2024-03-31"
    statuses = instance.storage.get_asset_partition_statuses("daily_report")
    assert {k: s.value for k, s in statuses.items()} == {"2024-03-31": "MATERIALIZED"}
