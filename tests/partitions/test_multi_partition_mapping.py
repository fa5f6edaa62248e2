"""MultiPartitionMapping between two multi-partitioned assets (Dagster's semantics: mapped
dimensions through their mapping, unmapped ones all to all), and AssetDep(partition_mapping=)
for dependencies without data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from opgraph import (
    AssetDep,
    AssetIn,
    AssetSpec,
    DailyPartitionsDefinition,
    DimensionPartitionMapping,
    IdentityPartitionMapping,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    StaticPartitionMapping,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
    WeeklyPartitionsDefinition,
    asset,
    materialize,
    multi_asset,
)
from opgraph.errors import DefinitionError
from opgraph.instance import OpgraphInstance
from opgraph.partitions.snapshot import (
    mapping_from_snapshot,
    mapping_snapshot,
    partition_mappings_snapshot,
)

NOW = dt.datetime(2023, 1, 10, tzinfo=dt.UTC)
DAILY = DailyPartitionsDefinition(start_date="2023-01-01", end_date="2023-01-09")
ABC_DAILY = MultiPartitionsDefinition(
    {"abc": StaticPartitionsDefinition(["a", "b", "c"]), "daily": DAILY}
)
NUM_DAILY = MultiPartitionsDefinition(
    {"123": StaticPartitionsDefinition(["1", "2", "3"]), "daily": DAILY}
)
ABC_WEEKLY = MultiPartitionsDefinition(
    {
        "abc": StaticPartitionsDefinition(["a", "b", "c"]),
        "weekly": WeeklyPartitionsDefinition(start_date="2023-01-01", end_date="2023-01-15"),
    }
)
BY_DAY = MultiPartitionMapping(
    {"daily": DimensionPartitionMapping("daily", IdentityPartitionMapping())}
)


def key(**dims: str) -> MultiPartitionKey:
    return MultiPartitionKey(dims)


def test_an_unmapped_upstream_dimension_is_read_whole() -> None:
    upstream = BY_DAY.get_upstream_partition_keys(
        [key(**{"123": "1", "daily": "2023-01-01"})], NUM_DAILY, ABC_DAILY, NOW
    )
    assert upstream == [key(abc=x, daily="2023-01-01") for x in "abc"]


def test_an_unmapped_downstream_dimension_is_fed_whole() -> None:
    downstream = BY_DAY.get_downstream_partition_keys(
        [key(abc="b", daily="2023-01-02")], ABC_DAILY, NUM_DAILY, NOW
    )
    assert downstream == [key(**{"123": n, "daily": "2023-01-02"}) for n in "123"]


def test_each_mapped_dimension_goes_through_its_own_mapping() -> None:
    mapping = MultiPartitionMapping(
        {
            "abc": DimensionPartitionMapping(
                "123", StaticPartitionMapping({"a": "1", "b": "2", "c": "3"})
            ),
            "weekly": DimensionPartitionMapping("daily", TimeWindowPartitionMapping()),
        }
    )
    # 2023-01-03 is in the week starting Sunday 2023-01-01.
    up = mapping.get_upstream_partition_keys(
        [key(**{"123": "2", "daily": "2023-01-03"})], NUM_DAILY, ABC_WEEKLY, NOW
    )
    assert up == [key(abc="b", weekly="2023-01-01")]
    down = mapping.get_downstream_partition_keys(
        [key(abc="c", weekly="2023-01-01")], ABC_WEEKLY, NUM_DAILY, NOW
    )
    assert down == [key(**{"123": "3", "daily": f"2023-01-0{d}"}) for d in range(1, 8)]


def test_names_and_definitions_are_checked() -> None:
    wrong_upstream = MultiPartitionMapping(
        {"nope": DimensionPartitionMapping("daily", IdentityPartitionMapping())}
    )
    with pytest.raises(DefinitionError, match="no upstream dimension 'nope'"):
        wrong_upstream.get_upstream_partition_keys(["1|2023-01-01"], NUM_DAILY, ABC_DAILY, NOW)
    wrong_downstream = MultiPartitionMapping(
        {"daily": DimensionPartitionMapping("weekly", IdentityPartitionMapping())}
    )
    with pytest.raises(DefinitionError, match="no downstream dimension 'weekly'"):
        wrong_downstream.get_upstream_partition_keys(["1|2023-01-01"], NUM_DAILY, ABC_DAILY, NOW)
    with pytest.raises(DefinitionError, match="two multi-partitioned assets"):
        BY_DAY.get_upstream_partition_keys(["2023-01-01"], DAILY, ABC_DAILY, NOW)
    with pytest.raises(DefinitionError, match="DimensionPartitionMapping"):
        MultiPartitionMapping({"daily": IdentityPartitionMapping()})  # type: ignore[dict-item]


def test_the_snapshot_round_trip_keeps_every_dimension() -> None:
    mapping = MultiPartitionMapping(
        {
            "abc": DimensionPartitionMapping("123", StaticPartitionMapping({"a": "1"})),
            "weekly": DimensionPartitionMapping(
                "daily", TimeWindowPartitionMapping(start_offset=-1)
            ),
        }
    )
    again = mapping_from_snapshot(mapping_snapshot(mapping))
    assert isinstance(again, MultiPartitionMapping)
    assert mapping_snapshot(again) == mapping_snapshot(mapping)
    assert again.downstream_mappings_by_upstream_dimension["weekly"].partition_mapping == (
        TimeWindowPartitionMapping(start_offset=-1)
    )


@asset(partitions_def=ABC_DAILY)
def letters(context: Any) -> str:
    return context.partition_key


@asset(partitions_def=NUM_DAILY, ins={"letters": AssetIn(partition_mapping=BY_DAY)})
def numbers(context: Any, letters: dict[str, str]) -> list[str]:
    return sorted(letters)


def test_an_asset_reads_the_mapped_partitions(tmp_path: Path) -> None:
    instance = OpgraphInstance.ephemeral(tmp_path)
    for letter in "abc":
        materialize([letters], partition_key=f"{letter}|2023-01-04", instance=instance)
    result = materialize(
        [letters, numbers],
        selection=[numbers.key],
        partition_key="2|2023-01-04",
        instance=instance,
    )
    assert result.output_for_node("numbers") == [f"{x}|2023-01-04" for x in "abc"]


def test_asset_dep_gives_a_dependency_without_data_its_mapping() -> None:
    previous_day = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)

    @asset(partitions_def=DAILY, deps=[AssetDep("raw", partition_mapping=previous_day)])
    def cleaned() -> None:
        return None

    @multi_asset(
        specs=[AssetSpec("summary", deps=[AssetDep(cleaned, partition_mapping=previous_day)])],
        partitions_def=DAILY,
    )
    def summarize() -> None:
        return None

    assert cleaned.partition_mappings == {AssetDep("raw").asset_key: previous_day}
    assert partition_mappings_snapshot(summarize) == {"cleaned": mapping_snapshot(previous_day)}
    assert AssetDep(cleaned).asset_key == cleaned.key
    with pytest.raises(DefinitionError, match="partition_mapping must be a PartitionMapping"):
        AssetDep("raw", partition_mapping="previous day")
