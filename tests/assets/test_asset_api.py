"""The asset API's semantics, in process (fast unit tests)."""

from __future__ import annotations

import pickle

import pytest

from opgraph import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetSelection,
    AssetSpec,
    Config,
    DefinitionError,
    Definitions,
    MaterializeResult,
    OpgraphInstance,
    Output,
    asset,
    asset_check,
    define_asset_job,
    materialize,
    materialize_to_memory,
    multi_asset,
)
from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.selection import parse_selection


def test_asset_key_strings() -> None:
    key = AssetKey(["warehouse", "orders"])
    assert key.to_user_string() == "warehouse/orders"
    assert AssetKey.from_user_string("warehouse/orders") == key
    assert AssetKey("x").path == ["x"]  # a list, as in Dagster
    derived = AssetKey(key.path + ["snapshot"])  # noqa: RUF005 (what Dagster projects write)
    assert derived == AssetKey(["warehouse", "orders", "snapshot"])
    assert {derived: 1}[AssetKey(["warehouse", "orders", "snapshot"])] == 1
    assert pickle.loads(pickle.dumps(derived)) == derived
    assert key.has_prefix(["warehouse"]) and not key.has_prefix(["orders"])
    with pytest.raises(DefinitionError, match="asset key"):
        AssetKey(["bad key"])


def test_keys_prefixes_names_and_deps() -> None:
    @asset(key_prefix=["raw"], group_name="raw", code_version="3", owners=["a@b.c"])
    def orders() -> list[int]:
        return [1, 2]

    @asset(key=["marts", "total"], ins={"rows": AssetIn(key="raw/orders")})
    def total(rows: list[int]) -> int:
        return sum(rows)

    @asset(deps=[total, "somewhere/else"])
    def after() -> None:
        return None

    assert orders.key == AssetKey(["raw", "orders"])
    assert orders.group_names_by_key[orders.key] == "raw"
    assert orders.code_versions_by_key[orders.key] == "3"
    assert total.key == AssetKey(["marts", "total"])
    assert total.op.name == "marts__total"
    assert total.dependency_keys == {orders.key}
    assert after.dependency_keys == {total.key, AssetKey(["somewhere", "else"])}
    assert total([5, 6]) == 11  # direct invocation runs the function


class Scale(Config):
    factor: int = 2


def test_materialize_values_metadata_and_events() -> None:
    @asset
    def numbers() -> list[int]:
        return [1, 2, 3]

    @asset
    def scaled(numbers: list[int], config: Scale) -> Output:
        values = [n * config.factor for n in numbers]
        return Output(values, metadata={"count": len(values)})

    result = materialize_to_memory(
        [numbers, scaled], run_config={"ops": {"scaled": {"config": {"factor": 10}}}}
    )
    assert result.success
    assert result.asset_value("scaled") == [10, 20, 30]
    assert result.output_for_node("numbers") == [1, 2, 3]
    events = result.get_asset_materialization_events()
    assert [e.record.data["asset_key"] for e in events] == [["numbers"], ["scaled"]]
    [mat] = result.asset_materializations_for_node("scaled")
    assert mat.metadata["count"] == 3


def test_materialize_result_skips_io_manager(tmp_path) -> None:
    @asset
    def written() -> MaterializeResult:
        (tmp_path / "w.txt").write_text("x")
        return MaterializeResult(metadata={"rows": 1})

    instance = OpgraphInstance.ephemeral()
    result = materialize([written], instance=instance)
    assert result.success
    assert not (instance.io_storage_dir / "written").exists()
    assert [
        e.record.data["metadata"]["rows"] for e in result.get_asset_materialization_events()
    ] == [1]


def test_later_run_loads_upstream_by_key(tmp_path) -> None:
    @asset
    def base() -> int:
        return 41

    @asset
    def plus_one(base: int) -> int:
        return base + 1

    instance = OpgraphInstance.ephemeral()
    assert materialize([base, plus_one], instance=instance, selection=[base]).success
    assert (instance.io_storage_dir / "base").exists()  # stored by key, not by run
    second = materialize([base, plus_one], instance=instance, selection=[plus_one])
    assert [e.step_key for e in second.get_asset_materialization_events()] == ["plus_one"]
    assert second.asset_value("plus_one") == 42


def test_multi_asset_subset_and_non_subsettable_error() -> None:
    @multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, can_subset=True)
    def both(context):
        for name in sorted(context.selected_output_names):
            yield Output(name.upper(), output_name=name)

    @multi_asset(outs={"c": AssetOut(), "d": AssetOut()})
    def together():
        return "C", "D"

    result = materialize_to_memory([both, together], selection=["a"])
    assert [e.record.data["asset_key"] for e in result.get_asset_materialization_events()] == [
        ["a"]
    ]
    with pytest.raises(DefinitionError, match=r"not all of \['c', 'd'\]"):
        materialize_to_memory([both, together], selection=["c"])
    ok = materialize_to_memory(
        [both, together], selection=AssetSelection.keys("c").required_multi_asset_neighbors()
    )
    assert ok.asset_value("d") == "D"


def test_multi_asset_specs() -> None:
    @multi_asset(specs=[AssetSpec("s1"), AssetSpec("s2", deps=["s1"])])
    def specs_fn():
        yield MaterializeResult(asset_key="s1", metadata={"n": 1})
        yield MaterializeResult(asset_key="s2")

    graph = AssetGraph([specs_fn])
    assert graph.parents[AssetKey("s2")] == {AssetKey("s1")}
    result = materialize_to_memory([specs_fn])
    assert len(result.get_asset_materialization_events()) == 2


def test_checks_in_asset_and_separate_blocking() -> None:
    @asset(check_specs=[AssetCheckSpec("non_empty", asset="rows")])
    def rows():
        yield Output([1])
        yield AssetCheckResult(passed=True)

    @asset_check(asset=rows, blocking=True)
    def small(rows):
        return AssetCheckResult(passed=len(rows) > 5, severity=AssetCheckSeverity.ERROR)

    @asset
    def downstream(rows):
        return len(rows)

    result = materialize_to_memory([rows, small, downstream], raise_on_error=False)
    assert not result.success
    checks = {(c.check_name, c.passed) for c in result.get_asset_check_evaluations()}
    assert checks == {("non_empty", True), ("small", False)}
    downstream_events = [
        e.event_type_value for e in result.all_events if e.step_key == "downstream"
    ]
    assert "STEP_START" not in downstream_events  # the failed blocking check stopped it
    assert [e.step_key for e in result.get_asset_materialization_events()] == ["rows"]

    @asset_check(asset=rows)
    def warn_only(rows):
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)

    assert materialize_to_memory([rows, warn_only, downstream]).success


def test_definitions_errors_name_keys() -> None:
    @asset(name="dup")
    def one() -> int:
        return 1

    @asset(name="dup")
    def two() -> int:
        return 2

    with pytest.raises(DefinitionError, match="dup is defined twice"):
        Definitions(assets=[one, two])

    @asset
    def needs_missing(missing_upstream: int) -> int:
        return missing_upstream

    with pytest.raises(DefinitionError, match="missing_upstream, which no asset here defines"):
        Definitions(assets=[needs_missing])

    @asset(key="x", deps=["y"])
    def x() -> None: ...

    @asset(key="y", deps=["x"])
    def y() -> None: ...

    with pytest.raises(DefinitionError, match="cycle"):
        Definitions(assets=[x, y])


def test_selection_algebra_and_jobs() -> None:
    @asset(group_name="raw", tags={"tier": "bronze"})
    def a() -> int:
        return 1

    @asset(group_name="raw")
    def b(a: int) -> int:
        return a

    @asset(group_name="marts", key_prefix="m")
    def c(b: int) -> int:
        return b

    @asset(ins={"c": AssetIn(key="m/c")})
    def d(c: int) -> int:
        return c

    graph = AssetGraph([a, b, c, d])

    def keys(selection) -> set[str]:
        return {k.to_user_string() for k in selection.resolve(graph)}

    assert keys(AssetSelection.all()) == {"a", "b", "m/c", "d"}
    assert keys(AssetSelection.groups("raw")) == {"a", "b"}
    assert keys(AssetSelection.key_prefixes("m")) == {"m/c"}
    assert keys(AssetSelection.tag("tier", "bronze")) == {"a"}
    assert keys(AssetSelection.keys("b").downstream(depth=1)) == {"b", "m/c"}
    assert keys(AssetSelection.keys("d").upstream()) == {"a", "b", "m/c", "d"}
    assert keys(AssetSelection.keys("d").upstream(depth=2, include_self=False)) == {"b", "m/c"}
    assert keys(AssetSelection.all() - AssetSelection.groups("raw")) == {"m/c", "d"}
    assert keys(AssetSelection.groups("raw") & AssetSelection.keys("b")) == {"b"}
    assert keys(AssetSelection.keys("a") | AssetSelection.keys("d")) == {"a", "d"}
    assert keys(parse_selection("b+ | group:raw")) == {"a", "b", "m/c"}
    assert keys(parse_selection("+m/c")) == {"b", "m/c"}

    job = define_asset_job("raw_job", selection=AssetSelection.groups("raw"))
    defs = Definitions(assets=[a, b, c, d], jobs=[job])
    assert sorted(defs.resolve_job_def("raw_job").flat_ops) == ["a", "b"]
    assert defs.get_assets_def("m/c") is c
    implicit = defs.get_implicit_global_asset_job_def()
    assert sorted(implicit.flat_ops) == [
        "a",
        "b",
        "d",
        "m__c",
    ]  # Dagster: key_prefix joins the op name
    subset = defs.get_job_def("__ASSET_JOB[d,m~c]")
    assert sorted(subset.flat_ops) == ["d", "m__c"]


def test_partition_accessors_outside_a_partition_run_say_so() -> None:
    @asset
    def p(context) -> int:
        return int(context.partition_key)

    with pytest.raises(Exception, match="this run is not for a partition"):
        materialize_to_memory([p])


def test_logged_events_and_added_metadata() -> None:
    from opgraph import AssetMaterialization, AssetObservation

    @asset
    def logs(context) -> int:
        context.log_event(AssetObservation("elsewhere", metadata={"seen": 1}))
        context.add_output_metadata({"rows": 3})
        return 3

    from opgraph import op

    @op
    def writes_itself():
        yield AssetMaterialization("side/table", metadata={"n": 5})
        yield Output(None)

    result = materialize_to_memory([logs])
    kinds = [
        (e.event_type_value, e.record.data["asset_key"])
        for e in result.all_events
        if "ASSET" in e.event_type_value
    ]
    assert kinds == [("ASSET_OBSERVATION", ["elsewhere"]), ("ASSET_MATERIALIZATION", ["logs"])]
    assert result.get_asset_materialization_events()[0].record.data["metadata"] == {"rows": 3}

    from opgraph import job

    @job
    def side():
        writes_itself()

    events = side.execute_in_process().all_events
    [mat] = [e for e in events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert mat.record.data["asset_key"] == ["side", "table"]


def test_staleness_causes() -> None:
    from opgraph.assets.staleness import staleness
    from opgraph_storage.assets_base import AssetCatalogRecord

    node = {"key": ["b"], "deps": [["a"]], "code_version": "2", "is_executable": True}
    assert staleness(node, {}, {}).status == "MISSING"
    records = {
        "b": AssetCatalogRecord("b", 10, 1.0, "r1", {"code_version": "1"}),
        "a": AssetCatalogRecord("a", 12, 2.0, "r2", {}),
    }
    found = staleness(node, records, {})
    assert found.status == "STALE"
    assert found.causes == [
        "code version changed from '1' to '2'",
        "upstream a was materialized after it",
    ]
    fresh = {"b": AssetCatalogRecord("b", 10, 1.0, "r1", {"code_version": "2"})}
    assert staleness(node, fresh, {}).status == "FRESH"
