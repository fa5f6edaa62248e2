"""Partition mappings agree with Dagster's documented behaviour (docs: "Partition
dependencies"): a daily asset reads its 24 hourly upstream partitions, an hourly asset
reads its day, offsets shift by whole downstream partitions, and the defaults."""

from __future__ import annotations

import datetime as dt

import pytest

from opgraph.partitions.definitions import (
    MultiPartitionsDefinition,
    PartitionKeyError,
    StaticPartitionsDefinition,
)
from opgraph.partitions.mappings import (
    AllPartitionMapping,
    IdentityPartitionMapping,
    LastPartitionMapping,
    MultiToSingleDimensionPartitionMapping,
    StaticPartitionMapping,
    TimeWindowPartitionMapping,
    infer_partition_mapping,
)
from opgraph.partitions.time_window import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

NOW = dt.datetime(2024, 2, 1)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
HOURLY = HourlyPartitionsDefinition(start_date="2024-01-01-00:00")
WEEKLY = WeeklyPartitionsDefinition(start_date="2024-01-01")
REGIONS = StaticPartitionsDefinition(["us", "eu"])
BERLIN_DAILY = DailyPartitionsDefinition(start_date="2024-03-01", timezone="Europe/Berlin")
BERLIN_HOURLY = HourlyPartitionsDefinition(start_date="2024-03-01-00:00", timezone="Europe/Berlin")


def up(mapping, keys, downstream, upstream, now=NOW):  # type: ignore[no-untyped-def]
    return mapping.get_upstream_partition_keys(keys, downstream, upstream, current_time=now)


def down(mapping, keys, upstream, downstream, now=NOW):  # type: ignore[no-untyped-def]
    return mapping.get_downstream_partition_keys(keys, upstream, downstream, current_time=now)


def test_time_window_same_cadence_and_offsets() -> None:
    assert up(TimeWindowPartitionMapping(), ["2024-01-05"], DAILY, DAILY) == ["2024-01-05"]
    previous = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
    assert up(previous, ["2024-01-05"], DAILY, DAILY) == ["2024-01-04"]
    assert down(previous, ["2024-01-04"], DAILY, DAILY) == ["2024-01-05"]
    window = TimeWindowPartitionMapping(start_offset=-2)
    assert up(window, ["2024-01-05"], DAILY, DAILY) == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert down(window, ["2024-01-03"], DAILY, DAILY) == ["2024-01-03", "2024-01-04", "2024-01-05"]


def test_time_window_across_cadences() -> None:
    day = up(TimeWindowPartitionMapping(), ["2024-01-05"], DAILY, HOURLY)
    assert day == [f"2024-01-05-{h:02d}:00" for h in range(24)]
    assert up(TimeWindowPartitionMapping(), ["2024-01-05-13:00"], HOURLY, DAILY) == ["2024-01-05"]
    assert down(TimeWindowPartitionMapping(), ["2024-01-05-13:00"], HOURLY, DAILY) == ["2024-01-05"]
    week = up(TimeWindowPartitionMapping(), ["2024-01-07"], WEEKLY, DAILY)
    assert week == [f"2024-01-{d:02d}" for d in range(7, 14)]
    assert down(TimeWindowPartitionMapping(), ["2024-01-09"], DAILY, WEEKLY) == ["2024-01-07"]


def test_time_window_over_daylight_saving_days() -> None:
    spring = up(
        TimeWindowPartitionMapping(),
        ["2024-03-31"],
        BERLIN_DAILY,
        BERLIN_HOURLY,
        NOW.replace(month=4),
    )
    assert len(spring) == 23 and "2024-03-31-02:00" not in spring
    autumn = up(
        TimeWindowPartitionMapping(),
        ["2024-10-27"],
        BERLIN_DAILY,
        BERLIN_HOURLY,
        NOW.replace(month=11),
    )
    assert len(autumn) == 25 and "2024-10-27-02:00+0100" in autumn


def test_nonexistent_upstream_partitions() -> None:
    previous = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
    with pytest.raises(PartitionKeyError, match=r"\['2023-12-31'\] do not exist"):
        up(previous, ["2024-01-01"], DAILY, DAILY)
    lenient = TimeWindowPartitionMapping(-1, -1, allow_nonexistent_upstream_partitions=True)
    assert up(lenient, ["2024-01-01"], DAILY, DAILY) == []
    # Not ended yet at NOW: the day of NOW does not exist upstream.
    with pytest.raises(PartitionKeyError, match="2024-02-01"):
        up(TimeWindowPartitionMapping(end_offset=1), ["2024-01-31"], DAILY, DAILY)


def test_identity_all_last_and_static() -> None:
    assert up(IdentityPartitionMapping(), ["eu"], REGIONS, REGIONS) == ["eu"]
    with pytest.raises(PartitionKeyError, match=r"\['mars'\]"):
        up(IdentityPartitionMapping(), ["mars"], REGIONS, REGIONS)
    assert up(AllPartitionMapping(), ["eu"], REGIONS, DAILY)[:2] == ["2024-01-01", "2024-01-02"]
    assert up(LastPartitionMapping(), None, None, DAILY) == ["2024-01-31"]
    static = StaticPartitionMapping({"us": ["americas"], "eu": "europe"})
    continents = StaticPartitionsDefinition(["americas", "europe"])
    assert up(static, ["europe"], continents, REGIONS) == ["eu"]
    assert down(static, ["us"], REGIONS, continents) == ["americas"]


def test_multi_to_single_dimension() -> None:
    multi = MultiPartitionsDefinition({"date": DAILY, "region": REGIONS})
    mapping = MultiToSingleDimensionPartitionMapping()
    assert up(mapping, ["2024-01-03|eu", "2024-01-03|us"], multi, DAILY) == ["2024-01-03"]
    assert down(mapping, ["2024-01-03"], DAILY, multi) == ["2024-01-03|us", "2024-01-03|eu"]
    by_region = MultiToSingleDimensionPartitionMapping(partition_dimension_name="region")
    assert up(by_region, ["2024-01-03|eu"], multi, REGIONS) == ["eu"]


def test_defaults_when_no_mapping_is_given() -> None:
    multi = MultiPartitionsDefinition({"date": DAILY, "region": REGIONS})
    assert infer_partition_mapping(None, DAILY, HOURLY) == TimeWindowPartitionMapping()
    assert infer_partition_mapping(None, REGIONS, REGIONS) == IdentityPartitionMapping()
    assert infer_partition_mapping(None, None, DAILY) == AllPartitionMapping()
    assert infer_partition_mapping(None, DAILY, None) == AllPartitionMapping()
    assert isinstance(
        infer_partition_mapping(None, multi, DAILY), MultiToSingleDimensionPartitionMapping
    )
    given = LastPartitionMapping()
    assert infer_partition_mapping(given, DAILY, DAILY) is given
