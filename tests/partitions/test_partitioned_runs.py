"""Partitioned op jobs: their runs' config and tags, the context, schedules built from
them, and a sensor adding dynamic partitions through the daemon (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph import (
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    RunRequest,
    StaticPartitionsDefinition,
    build_op_context,
    build_schedule_from_partitioned_job,
    daily_partitioned_config,
    job,
    op,
    static_partitioned_config,
)
from opgraph.dagster_errors import DagsterInvariantViolationError
from opgraph.errors import DefinitionError
from opgraph.instance import OpgraphInstance
from opgraph.partitions.definitions import PartitionKeyError
from opgraph.schedules import ScheduleEvaluationContext

SEEN: dict[str, Any] = {}


@op(config_schema={"day": str})
def load(context: Any) -> None:
    SEEN.update(
        day=context.op_config["day"],
        key=context.partition_key,
        keys=context.partition_keys,
        window=context.partition_time_window,
        tags=dict(context.run_tags),
    )


@daily_partitioned_config(start_date="2024-01-01", timezone="Europe/Berlin")
def daily_config(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {"ops": {"load": {"config": {"day": start.strftime("%Y-%m-%d")}}}}


@job(config=daily_config)
def daily_job() -> None:
    load()


@op
def region_op(context: Any) -> None:
    SEEN.update(key=context.partition_key, tags=dict(context.run_tags))


@static_partitioned_config(
    partition_keys=["us", "eu"], tags_for_partition_key_fn=lambda key: {"region": key}
)
def region_config(partition_key: str) -> dict[str, Any]:
    return {}


@job(config=region_config)
def region_job() -> None:
    region_op()


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_a_daily_partition_run_gets_its_config_tags_and_window() -> None:
    assert daily_job.partitions_def == daily_config.partitions_def
    result = daily_job.execute_in_process(partition_key="2024-03-31")
    assert result.success
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert SEEN["day"] == "2024-03-31" and SEEN["key"] == "2024-03-31"
    assert SEEN["keys"] == ["2024-03-31"]
    start, end = SEEN["window"]
    assert start == dt.datetime(2024, 3, 31, tzinfo=berlin)
    assert end.timestamp() - start.timestamp() == 23 * 3600  # spring forward in Berlin
    assert SEEN["tags"]["dagster/partition"] == "2024-03-31"


def test_a_static_partition_run_gets_the_config_tags() -> None:
    assert region_job.execute_in_process(partition_key="eu").success
    assert SEEN["key"] == "eu"
    assert SEEN["tags"] == {"region": "eu", "dagster/partition": "eu"}
    with pytest.raises(PartitionKeyError, match="'mars' is not a partition of job 'region_job'"):
        region_job.execute_in_process(partition_key="mars")


def test_a_multi_partition_run_has_a_tag_per_dimension() -> None:
    multi = MultiPartitionsDefinition(
        {
            "region": StaticPartitionsDefinition(["us", "eu"]),
            "color": StaticPartitionsDefinition(["red"]),
        }
    )

    @job(partitions_def=multi)
    def multi_job() -> None:
        region_op()

    assert multi_job.execute_in_process(partition_key="red|eu").success
    assert SEEN["key"].keys_by_dimension == {"color": "red", "region": "eu"}
    assert SEEN["tags"] == {
        "dagster/partition": "red|eu",
        "dagster/partition/color": "red",
        "dagster/partition/region": "eu",
    }


def test_partition_context_outside_a_partitioned_run() -> None:
    context = build_op_context(partition_key="2024-01-02")
    assert context.partition_key == "2024-01-02" and context.has_partition_key
    plain = build_op_context()
    assert not plain.has_partition_key
    with pytest.raises(DagsterInvariantViolationError, match="not for a partition"):
        _ = plain.partition_key

    @job
    def unpartitioned() -> None:
        region_op()

    with pytest.raises(DefinitionError, match="job 'unpartitioned' is not partitioned"):
        unpartitioned.execute_in_process(partition_key="x")


def test_conflicting_partitions_def_and_config_are_refused() -> None:
    with pytest.raises(DefinitionError, match="partitions_def differs from its partitioned config"):

        @job(config=daily_config, partitions_def=StaticPartitionsDefinition(["a"]))
        def both() -> None:
            load()


def test_schedule_from_a_daily_job_runs_the_day_that_ended() -> None:
    schedule = build_schedule_from_partitioned_job(daily_job, hour_of_day=2)
    assert schedule.name == "daily_job_schedule"
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Berlin")
    tz = daily_config.partitions_def._tz  # type: ignore[attr-defined]
    tick = schedule.evaluate_tick(ScheduleEvaluationContext(dt.datetime(2024, 3, 12, 2, tzinfo=tz)))
    [request] = tick.run_requests
    assert request.partition_key == request.run_key == "2024-03-11"
    assert request.tags["dagster/partition"] == "2024-03-11"
    assert request.run_config == {"ops": {"load": {"config": {"day": "2024-03-11"}}}}
    early = schedule.evaluate_tick(ScheduleEvaluationContext(dt.datetime(2024, 1, 1, 2, tzinfo=tz)))
    assert early.run_requests == [] and early.skip_message


def test_schedule_from_a_static_job_needs_a_cron_and_runs_every_key() -> None:
    with pytest.raises(DefinitionError, match="needs cron_schedule="):
        build_schedule_from_partitioned_job(region_job)
    schedule = build_schedule_from_partitioned_job(region_job, cron_schedule="0 6 * * *")
    tick = schedule.evaluate_tick(
        ScheduleEvaluationContext(dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC))
    )
    assert [(r.partition_key, r.tags["region"]) for r in tick.run_requests] == [
        ("us", "us"),
        ("eu", "eu"),
    ]


def test_a_run_request_for_a_bad_partition_fails_the_tick() -> None:
    from opgraph import sensor

    @sensor(job=region_job)
    def bad(context: Any) -> Any:
        return RunRequest(partition_key="mars")

    with pytest.raises(PartitionKeyError, match="'mars' is not a partition of job 'region_job'"):
        bad.evaluate_tick(__import__("opgraph").build_sensor_context())


# -- through the daemon ---------------------------------------------------------------------
JOBS = """
from opgraph import (
    DynamicPartitionsDefinition, RunRequest, SensorResult, SkipReason, job, op, sensor,
)
import os
from pathlib import Path

files = DynamicPartitionsDefinition(name="files")


@op
def ingest(context):
    return context.partition_key


@job(partitions_def=files)
def ingest_job():
    ingest()


@sensor(job=ingest_job, minimum_interval_seconds=30)
def file_sensor(context):
    folder = Path(os.environ["PARTITION_TEST_DIR"])
    present = sorted(p.name for p in folder.iterdir())
    known = context.cursor.split(",") if context.cursor else []
    new = [n for n in present if n not in known]
    gone = [n for n in known if n not in present]
    if not new and not gone:
        return SkipReason("no change")
    return SensorResult(
        run_requests=[RunRequest(run_key=n, partition_key=n) for n in new],
        cursor=",".join(present),
        dynamic_partitions_requests=[
            files.build_add_request(new),
            files.build_delete_request(gone),
        ],
    )
"""


@pytest.fixture
def daemon_env(tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from opgraph.workspace import load_workspace

    home = tmp_path / "home"
    home.mkdir()
    jobs = tmp_path / "partition_jobs.py"
    jobs.write_text(textwrap.dedent(JOBS))
    folder = tmp_path / "incoming"
    folder.mkdir()
    monkeypatch.setenv("PARTITION_TEST_DIR", str(folder))
    config = {
        "storage": {"url": storage_url},
        "run_launcher": {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": str(jobs), "location_name": "loc"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield instance, workspace, folder
    workspace.close()
    instance.dispose()


def test_a_sensor_adds_dynamic_partitions_and_runs_them(daemon_env: Any) -> None:
    from opgraph.daemon.instigators import find_instigator, set_running
    from opgraph.daemon.sensors import SensorDaemon
    from opgraph_storage.records import InstigatorType, RunsFilter

    instance, workspace, folder = daemon_env
    t0 = 1_800_000_000.0
    set_running(
        instance,
        find_instigator(instance, workspace, InstigatorType.SENSOR, "file_sensor"),
        True,
        t0,
    )
    sensors = SensorDaemon(instance, workspace)
    for name in ("a.csv", "b.csv"):
        (folder / name).touch()
    report = sensors.tick(t0)
    assert report.errors == []
    assert instance.get_dynamic_partitions("files") == ["a.csv", "b.csv"]
    runs = instance.storage.get_runs(RunsFilter(job_name="ingest_job"))
    assert sorted(r.tags["dagster/partition"] for r in runs) == ["a.csv", "b.csv"]

    (folder / "a.csv").unlink()
    (folder / "c.csv").touch()
    assert sensors.tick(t0 + 30).errors == []
    assert instance.get_dynamic_partitions("files") == ["b.csv", "c.csv"]
    assert instance.has_dynamic_partition("files", "c.csv")
    runs = instance.storage.get_runs(RunsFilter(job_name="ingest_job"))
    assert sorted(r.tags["dagster/partition"] for r in runs) == ["a.csv", "b.csv", "c.csv"]
    # The definition reads its keys from the instance.
    files = DynamicPartitionsDefinition(name="files")
    assert files.get_partition_keys(dynamic_partitions_store=instance) == ["b.csv", "c.csv"]


def test_schedule_of_an_asset_job_takes_its_assets_partitions() -> None:
    from opgraph import Definitions, HourlyPartitionsDefinition, asset, define_asset_job

    hourly = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone="Europe/Berlin")

    @asset(partitions_def=hourly)
    def readings(context: Any) -> str:
        return context.partition_key

    readings_job = define_asset_job("readings_job", selection=[readings])
    pending = build_schedule_from_partitioned_job(readings_job, minute_of_hour=5)
    assert pending.name == "readings_job_schedule"
    defs = Definitions(assets=[readings], jobs=[readings_job], schedules=[pending])
    [schedule] = defs.schedules
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("5 * * * *", "Europe/Berlin")
    tick = schedule.evaluate_tick(
        ScheduleEvaluationContext(dt.datetime(2024, 3, 12, 2, 5, tzinfo=dt.UTC))
    )
    [request] = tick.run_requests
    assert request.partition_key == "2024-03-12-02:00"  # 03:05 in Berlin: 02:00 has ended

    @asset
    def plain() -> int:
        return 1

    plain_job = define_asset_job("plain_job", selection=[plain])
    with pytest.raises(DefinitionError, match="'plain_job' is not partitioned"):
        Definitions(
            assets=[plain],
            jobs=[plain_job],
            schedules=[build_schedule_from_partitioned_job(plain_job)],
        )
