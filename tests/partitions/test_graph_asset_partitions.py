"""@graph_asset / @graph_multi_asset with partitions_def=: the graph's ops see the run's
partition, and each asset partition lands in the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opgraph import (
    AssetOut,
    BackfillPolicy,
    StaticPartitionsDefinition,
    asset,
    graph_asset,
    graph_multi_asset,
    materialize,
    op,
)
from opgraph.errors import DefinitionError
from opgraph.instance import OpgraphInstance

REGIONS = StaticPartitionsDefinition(["us", "eu"])


@op
def fetch(context: Any) -> str:
    return f"rows of {context.partition_key}"


@op
def count(rows: str) -> int:
    return len(rows)


@graph_asset(partitions_def=REGIONS, backfill_policy=BackfillPolicy.single_run())
def region_rows() -> Any:
    return fetch()


@graph_multi_asset(outs={"raw": AssetOut(), "size": AssetOut()}, partitions_def=REGIONS)
def region_pair() -> Any:
    rows = fetch()
    return {"raw": rows, "size": count(rows)}


@asset(partitions_def=REGIONS)
def report(context: Any, region_rows: str) -> str:
    return f"{context.partition_key}: {region_rows}"


def test_a_graph_asset_runs_one_partition(tmp_path: Path) -> None:
    instance = OpgraphInstance.ephemeral(tmp_path)
    assert region_rows.partitions_def == REGIONS
    assert region_rows.backfill_policy == BackfillPolicy.single_run()
    materialize([region_rows], partition_key="eu", instance=instance)
    result = materialize(
        [region_rows, report], selection=[report.key], partition_key="eu", instance=instance
    )
    assert result.output_for_node("report") == "eu: rows of eu"
    statuses = instance.storage.get_asset_partition_statuses("region_rows")
    assert {k: str(v.value) for k, v in statuses.items()} == {"eu": "MATERIALIZED"}


def test_a_graph_multi_asset_materializes_each_asset_for_the_partition(tmp_path: Path) -> None:
    instance = OpgraphInstance.ephemeral(tmp_path)
    result = materialize([region_pair], partition_key="us", instance=instance)
    events = result.get_asset_materialization_events()
    assert sorted((e.record.data["asset_key"], e.record.data["partition"]) for e in events) == [
        (["raw"], "us"),
        (["size"], "us"),
    ]
    assert result.output_for_node("region_pair", "size") == len("rows of us")


def test_a_bad_partitions_def_is_refused() -> None:
    with pytest.raises(DefinitionError, match="partitions_def must be a PartitionsDefinition"):

        @graph_asset(partitions_def=["us", "eu"])
        def nope() -> Any:
            return fetch()
