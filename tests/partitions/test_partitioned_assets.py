"""Partitioned assets: partitions_def= on @asset / @multi_asset / define_asset_job, what the
context says, what IO managers store and load per partition, and the catalog's events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from opgraph import (
    AssetIn,
    AssetOut,
    DailyPartitionsDefinition,
    Definitions,
    HourlyPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    materialize,
    multi_asset,
)
from opgraph.errors import DefinitionError
from opgraph.instance import OpgraphInstance
from opgraph.partitions.definitions import PartitionKeyError
from opgraph.partitions.mappings import TimeWindowPartitionMapping

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
HOURLY = HourlyPartitionsDefinition(start_date="2024-01-01-00:00")
REGIONS = StaticPartitionsDefinition(["us", "eu"])


@asset(partitions_def=HOURLY)
def events(context: Any) -> str:
    return f"event@{context.partition_key}"


@asset(partitions_def=DAILY)
def daily_events(context: Any, events: dict[str, str]) -> dict[str, Any]:
    return {
        "key": context.partition_key,
        "hours": sorted(events),
        "window": context.partition_time_window,
        "inputs": context.asset_partition_keys_for_input("events"),
    }


@asset(
    partitions_def=DAILY,
    ins={
        "daily_events": AssetIn(
            partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
        )
    },
)
def day_over_day(context: Any, daily_events: dict[str, Any]) -> tuple[str, str, str]:
    return (
        context.partition_key,
        daily_events["key"],
        context.asset_partition_key_for_input("daily_events"),
    )


@asset(partitions_def=REGIONS)
def regional(context: Any) -> str:
    return context.partition_key.upper()


@asset(partitions_def=REGIONS)
def regional_report(context: Any, regional: str) -> str:
    return f"{context.partition_key}:{regional}"


@asset
def all_regions(regional: dict[str, str]) -> dict[str, str]:
    return regional


@pytest.fixture
def instance(tmp_path: Path) -> OpgraphInstance:
    return OpgraphInstance.ephemeral(tmp_path)


def test_an_hourly_to_daily_chain(instance: OpgraphInstance) -> None:
    for hour in range(24):
        key = (dt.datetime(2024, 1, 2) + dt.timedelta(hours=hour)).strftime("%Y-%m-%d-%H:%M")
        assert materialize([events], partition_key=key, instance=instance).success
    # Each hour is its own file: the IO manager stores by asset key and partition.
    stored = sorted(p.name for p in (instance.io_storage_dir / "events").iterdir())
    assert stored[0] == "2024-01-02-00:00" and len(stored) == 24
    result = materialize(
        [events, daily_events],
        selection=[daily_events.key],
        partition_key="2024-01-02",
        instance=instance,
    )
    value = result.output_for_node("daily_events")
    assert value["key"] == "2024-01-02" and len(value["hours"]) == 24
    assert value["inputs"][0] == "2024-01-02-00:00" and value["inputs"][-1] == "2024-01-02-23:00"
    start, end = value["window"]
    assert (start, end) == (
        dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 3, tzinfo=dt.UTC),
    )
    [event] = instance.storage.get_asset_events("daily_events")
    assert event.data["partition"] == "2024-01-02"
    statuses = instance.storage.get_asset_partition_statuses("events")
    assert len(statuses) == 24 and {s.value for s in statuses.values()} == {"MATERIALIZED"}
    assert result.dagster_run.tags["dagster/partition"] == "2024-01-02"


def test_an_offset_mapping_reads_the_previous_day(instance: OpgraphInstance) -> None:
    for day in ("2024-01-01", "2024-01-02"):
        for hour in range(24):
            key = f"{day}-{hour:02d}:00"
            materialize([events], partition_key=key, instance=instance)
        materialize(
            [events, daily_events],
            selection=[daily_events.key],
            partition_key=day,
            instance=instance,
        )
    result = materialize(
        [events, daily_events, day_over_day],
        selection=[day_over_day.key],
        partition_key="2024-01-02",
        instance=instance,
    )
    assert result.output_for_node("day_over_day") == ("2024-01-02", "2024-01-01", "2024-01-01")
    with pytest.raises(PartitionKeyError, match=r"\['2023-12-31'\] do not exist"):
        materialize(
            [events, daily_events, day_over_day],
            selection=[day_over_day.key],
            partition_key="2024-01-01",
            instance=instance,
        )


def test_static_identity_and_an_unpartitioned_downstream(instance: OpgraphInstance) -> None:
    for region in ("us", "eu"):
        assert materialize([regional], partition_key=region, instance=instance).success
    report = materialize(
        [regional, regional_report],
        selection=[regional_report.key],
        partition_key="eu",
        instance=instance,
    )
    assert report.output_for_node("regional_report") == "eu:EU"
    # An unpartitioned asset reads every upstream partition, as a dict (Dagster's default).
    everything = materialize(
        [regional, all_regions], selection=[all_regions.key], instance=instance
    )
    assert everything.output_for_node("all_regions") == {"us": "US", "eu": "EU"}
    with pytest.raises(PartitionKeyError, match="'mars' is not a partition"):
        materialize([regional], partition_key="mars", instance=instance)


def test_multi_asset_and_asset_jobs_take_the_assets_partitions(instance: OpgraphInstance) -> None:
    @multi_asset(outs={"left": AssetOut(), "right": AssetOut()}, partitions_def=REGIONS)
    def both(context: Any) -> tuple[str, str]:
        return f"l-{context.partition_key}", f"r-{context.partition_key}"

    defs = Definitions(
        assets=[both, regional, events],
        jobs=[
            define_asset_job("regions_job", selection=["left", "right", "regional"]),
            define_asset_job("explicit", selection=["regional"], partitions_def=REGIONS),
        ],
    )
    job = defs.get_job_def("regions_job")
    assert job.partitions_def == REGIONS
    assert job.execute_in_process(partition_key="us", instance=instance).success
    assert {e.data["partition"] for e in instance.storage.get_asset_events("left")} == {"us"}
    assert defs.get_job_def("explicit").partitions_def == REGIONS
    # The implicit job of all assets may mix partitions; a job of the user's may not.
    assert defs.get_implicit_global_asset_job_def().partitions_def is None
    with pytest.raises(DefinitionError, match="different partitions"):
        Definitions(
            assets=[regional, events],
            jobs=[define_asset_job("mixed", selection=["regional", "events"])],
        )


def test_a_non_partitions_def_is_refused() -> None:
    with pytest.raises(DefinitionError, match="partitions_def must be a PartitionsDefinition"):

        @asset(partitions_def=["us", "eu"])
        def wrong() -> None: ...


def test_a_failed_step_marks_its_asset_partitions_failed(instance: OpgraphInstance) -> None:
    @asset(partitions_def=REGIONS)
    def flaky(context: Any) -> str:
        if context.partition_key == "eu":
            raise ValueError("no data for eu")
        return "ok"

    assert materialize([flaky], partition_key="us", instance=instance).success
    result = materialize([flaky], partition_key="eu", instance=instance, raise_on_error=False)
    assert not result.success
    statuses = instance.storage.get_asset_partition_statuses("flaky")
    assert {k: s.value for k, s in statuses.items()} == {"us": "MATERIALIZED", "eu": "FAILED"}
    start = next(e for e in result.all_events if e.event_type_value == "STEP_START")
    assert start.record.data["asset_partitions"] == [{"asset_key": ["flaky"], "partition": "eu"}]
