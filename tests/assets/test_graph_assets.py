"""Graph-backed assets: a graph_multi_asset with can_subset=True runs only the ops the
selected assets need; deps= on a graph_asset orders its graph after those assets."""

from __future__ import annotations

import pytest

from opgraph import (
    AssetKey,
    AssetOut,
    asset,
    graph_asset,
    graph_multi_asset,
    materialize_to_memory,
    op,
)
from opgraph.errors import DefinitionError


@op
def fetch() -> int:
    return 10


@op
def plus_one(x: int) -> int:
    return x + 1


@op
def slow_double(x: int) -> int:
    return x * 2


def _steps(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def _graph_multi(can_subset: bool):
    @graph_multi_asset(outs={"small": AssetOut(), "big": AssetOut()}, can_subset=can_subset)
    def numbers():
        value = fetch()
        return {"small": plus_one(value), "big": slow_double(value)}

    return numbers


def test_a_subsettable_graph_multi_asset_runs_only_the_ops_of_the_selection() -> None:
    numbers = _graph_multi(can_subset=True)
    result = materialize_to_memory([numbers], selection=["small"])
    assert result.success
    assert result.asset_value("small") == 11
    assert [e.record.data["asset_key"] for e in result.get_asset_materialization_events()] == [
        ["small"]
    ]
    assert _steps(result) == {"numbers.fetch", "numbers.plus_one"}

    whole = materialize_to_memory([numbers])
    assert {
        tuple(e.record.data["asset_key"]) for e in whole.get_asset_materialization_events()
    } == {
        ("small",),
        ("big",),
    }
    assert whole.asset_value("big") == 20


def test_a_graph_multi_asset_without_can_subset_refuses_part_of_it() -> None:
    with pytest.raises(DefinitionError, match="not can_subset=True"):
        materialize_to_memory([_graph_multi(can_subset=False)], selection=["small"])


def test_deps_order_a_graph_asset_after_its_upstream() -> None:
    seen: list[str] = []

    @asset
    def upstream() -> None:
        seen.append("upstream")

    @op
    def first() -> int:
        seen.append("first")
        return 1

    @op
    def second(x: int) -> int:
        return x + 1

    @graph_asset(deps=[upstream])
    def downstream():
        return second(first())

    # Listed first, the graph would run first if deps= did not order it.
    result = materialize_to_memory([downstream, upstream])
    assert result.success
    assert seen == ["upstream", "first"]
    assert result.asset_value("downstream") == 2
    assert downstream.dependency_keys == {AssetKey("upstream")}
    # Without its upstream in the run, the graph runs on its own.
    alone = materialize_to_memory([downstream], selection=["downstream"])
    assert alone.success and alone.asset_value("downstream") == 2


def test_a_graph_multi_assets_outs_keep_their_own_group() -> None:
    """AssetOut(group_name=...) names the group of its asset, as on @multi_asset; the
    decorator's group_name is for the others. Dagster 1.13 drops the AssetOut's group here
    (graph_multi_asset passes only the decorator's), an omission of the kind it fixed for
    AssetOut owners (dagster#26108); opgraph keeps the group the user wrote."""

    @graph_multi_asset(
        outs={"small": AssetOut(group_name="sizes"), "big": AssetOut()}, group_name="numbers"
    )
    def numbers():
        value = fetch()
        return {"small": plus_one(value), "big": slow_double(value)}

    groups = numbers.group_names_by_key
    assert groups == {AssetKey("small"): "sizes", AssetKey("big"): "numbers"}
