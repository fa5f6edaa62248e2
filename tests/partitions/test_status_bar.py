"""The status bar of an asset's partitions: one character per partition, and ranges."""

from __future__ import annotations

from opgraph.partitions.status_bar import StatusRange, status_bar
from opgraph_storage.partitions_base import AssetPartitionStatus as S


def test_characters_follow_the_definitions_order_and_runs_become_ranges() -> None:
    keys = ["a", "b", "c", "d", "e", "f"]
    bar = status_bar(
        keys, {"b": S.MATERIALIZED, "c": S.MATERIALIZED, "d": S.FAILED, "f": S.IN_PROGRESS}
    )
    assert bar.text == ".MMF.I"
    assert (bar.count("M"), bar.count("F"), bar.count("I"), bar.count(".")) == (2, 1, 1, 2)
    assert bar.ranges() == [
        StatusRange("missing", "a", "a", 1),
        StatusRange("materialized", "b", "c", 2),
        StatusRange("failed", "d", "d", 1),
        StatusRange("missing", "e", "e", 1),
        StatusRange("in progress", "f", "f", 1),
    ]


def test_no_partitions_no_ranges() -> None:
    assert status_bar([], {}).ranges() == []
