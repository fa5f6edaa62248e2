"""The asset project of tests/compat/jobs/asset_shapes.py (a Dagster project with its import
line switched) runs on opgraph and gives what real Dagster gives on the same file
(tests/compat/compare_assets_with_dagster.py checks the same answers against Dagster)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from opgraph import (
    AssetCheckSeverity,
    AssetDep,
    AssetIn,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterInvalidDefinitionError,
    Definitions,
    MetadataValue,
    materialize,
    materialize_to_memory,
)
from tests.compat.test_dagster_compat import JOBS_DIR


def _load():
    spec = importlib.util.spec_from_file_location(
        "tests.compat.jobs.asset_shapes", JOBS_DIR / "asset_shapes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


m = _load()
RESOURCES = {"warehouse": m.Warehouse(rows=4), "lookup": m.Lookup(region="us")}
EVERY_ASSET = [
    "customer_count",
    "daily_totals",
    "doubled_total",
    "enriched",
    "flaky",
    "gated_source",
    "geo/region_list",
    "high",
    "left",
    "low",
    "raw/customers",
    "raw/orders",
    "report",
    "right",
]


def _keys(found) -> list[str]:
    return sorted(k.to_user_string() for k in found)


def _materialized(result) -> list[str]:
    return _keys(e.asset_key for e in result.get_asset_materialization_events())


def _evaluations(result) -> list[tuple]:
    return sorted(
        (e.asset_check_key.to_user_string(), e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    )


@pytest.fixture(scope="module")
def everything():
    return materialize(m.ASSETS + m.CHECKS, resources=RESOURCES, raise_on_error=False)


def test_every_shape_materializes(everything) -> None:
    # The failed blocking check fails the run and keeps gated_sink from running.
    assert not everything.success
    assert _materialized(everything) == EVERY_ASSET
    assert everything.asset_value("enriched") == {"total": 100, "customers": 2}
    assert everything.output_for_node("enriched") == {"total": 100, "customers": 2}
    assert everything.asset_value(AssetKey(["raw", "customers"])) == ["us-0", "us-1"]
    assert everything.asset_value(["geo", "region_list"]) == ["us"]
    assert everything.output_for_node("split", "customer_count") == 2
    assert [everything.asset_value(k) for k in ("doubled_total", "low", "high")] == [201, -100, 200]
    # flaky fails its first attempt; its retry_policy runs it again (retry_number 1).
    assert everything.asset_value("flaky") == 101
    assert sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in everything.all_events) == 1
    assert _keys(e.asset_key for e in everything.get_asset_observation_events()) == ["report"]


def test_check_results(everything) -> None:
    assert _evaluations(everything) == [
        ("daily_totals:totals_positive", True, "ERROR"),
        ("enriched:has_rows", True, "ERROR"),
        ("gated_source:gated_source_positive", False, "ERROR"),
        ("left:left_ok", True, "ERROR"),
        ("raw/orders:orders_small", False, "WARN"),
    ]
    [warned] = [
        e
        for e in everything.get_asset_check_evaluations()
        if not e.passed and e.severity is AssetCheckSeverity.WARN
    ]
    assert warned.metadata["limit"].value == 2


def test_metadata_reads_back_as_typed_values(everything) -> None:
    [report] = everything.asset_materializations_for_node("report")
    values = {k: v.value for k, v in report.metadata.items()}
    assert values == {
        "path": "/tmp/report.txt",
        "link": "https://example.com/report",
        "payload": {"a": [1, 2]},
        "note": "hello",
        "score": 0.25,
        "rows": 3,
        "dagster/row_count": 3,
    }
    assert all(isinstance(v, MetadataValue) for v in report.metadata.values())
    assert report.metadata["rows"] == MetadataValue.int(3)
    assert report.metadata["link"].type == "url"
    # Plain values get Dagster's inferred types; they still equal the plain value.
    [enriched] = everything.asset_materializations_for_node("enriched")
    assert (
        enriched.metadata["total"] == MetadataValue.int(100) and enriched.metadata["total"] == 100
    )
    assert enriched.metadata["ratio"].type == "float" and enriched.metadata["flag"].value is True
    [orders] = [
        e.materialization
        for e in everything.get_asset_materialization_events()
        if e.asset_key == AssetKey(["raw", "orders"])
    ]
    assert orders.metadata["preview"].type == "md" and orders.metadata["row_count"].value == 4
    # The filesystem IO manager (materialize's default, as Dagster's) adds where it wrote.
    assert sorted(orders.metadata) == ["dagster/row_count", "path", "preview", "row_count"]
    assert enriched.metadata["path"].type == "path"
    assert enriched.metadata["path"].value.endswith("/storage/enriched")
    assert orders.metadata["path"].value.endswith("/storage/raw/orders")
    pair = sorted(
        (r.asset_key.to_user_string(), r.metadata["side"].value)
        for r in everything.asset_materializations_for_node("pair")
    )
    assert pair == [("left", "left"), ("right", "right")]


def test_selection_with_resources_run_config_and_tags() -> None:
    result = materialize_to_memory(
        m.ASSETS + m.CHECKS,
        selection=AssetSelection.keys("daily_totals").upstream()
        | AssetSelection.keys("customer_count"),
        resources=RESOURCES,
        run_config={
            "ops": {
                "enriched": {"config": {"factor": 2}},
                "raw__customers": {"config": {"limit": 3}},
            }
        },
        tags={"who": "probe"},
    )
    assert result.success
    # customer_count alone of the subsettable split: geo/region_list is not materialized.
    assert _materialized(result) == [
        "customer_count",
        "daily_totals",
        "enriched",
        "raw/customers",
        "raw/orders",
    ]
    assert [result.asset_value("daily_totals"), result.asset_value("customer_count")] == [200, 3]
    assert result.dagster_run.tags["who"] == "probe"
    assert [e[0] for e in _evaluations(result)] == [
        "daily_totals:totals_positive",
        "enriched:has_rows",
        "raw/orders:orders_small",
    ]


def test_graph_multi_asset_subset() -> None:
    result = materialize_to_memory(
        m.ASSETS, resources=RESOURCES, selection=AssetSelection.keys("low").upstream()
    )
    assert "high" not in _materialized(result) and result.asset_value("low") == -100


def test_asset_jobs_of_definitions() -> None:
    marts = m.defs.resolve_job_def("marts_job").execute_in_process()
    assert _materialized(marts) == [
        "customer_count",
        "daily_totals",
        "doubled_total",
        "enriched",
        "raw/customers",
        "raw/orders",
    ]
    assert marts.output_for_node("enriched") == {"total": 300, "customers": 2}  # job config
    assert marts.dagster_run.tags["team"] == "finance"
    assert ("raw/orders:orders_small", False, "WARN") in _evaluations(marts)
    raw = m.defs.resolve_job_def("raw_job").execute_in_process()
    assert _materialized(raw) == ["raw/customers", "raw/orders"]
    implicit = m.defs.resolve_implicit_global_asset_job_def().execute_in_process(
        raise_on_error=False
    )
    assert _materialized(implicit) == EVERY_ASSET


def test_definitions_attributes() -> None:
    orders = m.defs.get_assets_def(AssetKey(["raw", "orders"]))
    key = AssetKey(["raw", "orders"])
    assert orders.group_names_by_key[key] == "raw"
    assert orders.descriptions_by_key[key] == "orders loaded from the warehouse"
    assert orders.code_versions_by_key[key] == "1"
    assert _keys(orders.dependency_keys) == ["external_feed", "vendor/file"]
    [spec] = orders.specs
    assert (spec.kinds, spec.owners) == ({"python"}, ("team:data",))
    assert spec.tags == {"tier": "bronze", "dagster/kind/python": ""}  # as Dagster's spec
    assert _keys(dep.asset_key for dep in spec.deps) == ["external_feed", "vendor/file"]
    enriched = m.defs.get_assets_def("enriched")
    assert enriched.op.tags["celery/queue"] == "marts" and enriched.op.retry_policy.max_retries == 2
    assert [c.to_user_string() for c in enriched.check_keys] == ["enriched:has_rows"]
    customers = m.defs.get_assets_def(AssetKey(["raw", "customers"]))
    assert customers.node_def.name == "raw__customers"  # key= names the op as Dagster does
    assert m.totals_positive.check_key.to_user_string() == "daily_totals:totals_positive"


SELECTIONS = {
    "all": (AssetSelection.all(), [*EVERY_ASSET, "gated_sink"]),
    "keys": (
        AssetSelection.keys("enriched", AssetKey(["raw", "orders"])),
        ["enriched", "raw/orders"],
    ),
    # A string given to AssetSelection.keys is a user string, split at "/" (Dagster's too).
    "keys_slash": (AssetSelection.keys("raw/orders"), ["raw/orders"]),
    "assets": (
        AssetSelection.assets(m.orders, m.split),
        ["customer_count", "geo/region_list", "raw/orders"],
    ),
    "groups": (
        AssetSelection.groups("marts", "geo"),
        ["customer_count", "daily_totals", "doubled_total", "enriched", "flaky", "geo/region_list"],
    ),
    "key_prefixes": (AssetSelection.key_prefixes("raw"), ["raw/customers", "raw/orders"]),
    "key_prefixes_list": (AssetSelection.key_prefixes(["geo"]), ["geo/region_list"]),
    "tag": (AssetSelection.tag("tier", "bronze"), ["raw/customers", "raw/orders"]),
    # Upstream walks leave external assets out, as Dagster's do.
    "upstream": (
        AssetSelection.keys("daily_totals").upstream(),
        ["daily_totals", "enriched", "raw/customers", "raw/orders"],
    ),
    "upstream_depth1": (
        AssetSelection.keys("daily_totals").upstream(depth=1),
        ["daily_totals", "enriched"],
    ),
    "upstream_no_self": (
        AssetSelection.keys("daily_totals").upstream(include_self=False),
        ["enriched", "raw/customers", "raw/orders"],
    ),
    "downstream": (
        AssetSelection.keys("enriched").downstream(),
        ["daily_totals", "doubled_total", "enriched", "flaky", "high", "low", "report", "right"],
    ),
    "downstream_depth1": (
        AssetSelection.keys("enriched").downstream(depth=1),
        ["daily_totals", "enriched", "report"],
    ),
    "downstream_external": (
        AssetSelection.keys("external_feed").downstream(depth=1),
        ["external_feed", "raw/orders", "report"],
    ),
    "neighbors_fixed": (
        AssetSelection.keys("left").required_multi_asset_neighbors(),
        ["left", "right"],
    ),
    "neighbors_subsettable": (
        AssetSelection.keys("customer_count").required_multi_asset_neighbors(),
        ["customer_count"],
    ),
    "union": (
        AssetSelection.groups("pair") | AssetSelection.keys("report"),
        ["left", "report", "right"],
    ),
    "intersection": (
        AssetSelection.groups("marts") & AssetSelection.tag("tier", "silver"),
        ["customer_count", "enriched"],
    ),
    "difference": (
        AssetSelection.all() - AssetSelection.groups("marts", "gated"),
        [
            "geo/region_list",
            "high",
            "left",
            "low",
            "raw/customers",
            "raw/orders",
            "report",
            "right",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(SELECTIONS))
def test_selection_resolves_on_a_list_of_assets(name: str) -> None:
    selection, expected = SELECTIONS[name]
    # Dagster's resolve() takes the assets themselves (definitions and specs).
    assert _keys(selection.resolve(m.ASSETS)) == sorted(expected)


def test_asset_events_logged_by_an_op() -> None:
    # An op job's result has the asset accessors too.
    result = m.file_job.execute_in_process()
    assert _materialized(result) == ["op/other", "op_file"]
    assert _keys(e.asset_key for e in result.get_asset_observation_events()) == ["op_file"]
    [observed] = result.get_asset_observation_events()
    assert observed.asset_observation.metadata["checked"].value is True
    records = result.asset_materializations_for_node("write_file")
    described = [(r.asset_key.to_user_string(), r.description) for r in records]
    assert described == [("op_file", "written by an op"), ("op/other", None)]
    assert records[0].metadata["size"] == MetadataValue.int(10)


def test_asset_key_api() -> None:
    key = AssetKey(["raw", "orders"])
    assert key.to_user_string() == "raw/orders" and key.to_string() == '["raw", "orders"]'
    assert AssetKey.from_user_string("raw/orders") == key
    assert AssetKey("x") == AssetKey(["x"]) and len({AssetKey("x"), AssetKey(["x"])}) == 1
    assert key.has_prefix(["raw"]) and not key.has_prefix(["geo"]) and key.has_prefix([])
    assert AssetKey(["a-b", "c.d"]).to_python_identifier() == "a_b__c_d"
    assert key.to_python_identifier("io") == "raw__orders__io"
    assert repr(key) == "AssetKey(['raw', 'orders'])"
    assert str(key) == f"{key}" == "AssetKey(['raw', 'orders'])"  # as Dagster prints it


def test_a_slash_in_a_key_string_separates_names() -> None:
    """Left different from Dagster on purpose (keys.to_asset_key says why): "raw/orders"
    given where a key is expected is the key of two names, and AssetKey() refuses a name
    with a "/" in it, saying what to write instead."""
    key = AssetKey(["raw", "orders"])
    assert AssetKey.from_coercible("raw/orders") == key
    assert AssetIn(key="raw/orders").key == key
    assert [d.asset_key for d in AssetSpec("s", deps=["raw/orders"]).deps] == [key]
    with pytest.raises(DagsterInvalidDefinitionError, match=r"from_user_string\('raw/orders'\)"):
        AssetKey("raw/orders")
    assert AssetIn(key=["raw", "orders"]).key == key  # an AssetKey, as Dagster's is
    assert isinstance(AssetIn(key="x").key, AssetKey)


def test_asset_spec_deps_are_asset_deps() -> None:
    spec = AssetSpec("s", deps=["a", AssetKey(["b", "c"]), m.orders, AssetDep("d")])
    assert all(isinstance(dep, AssetDep) for dep in spec.deps)
    assert [d.asset_key.to_user_string() for d in spec.deps] == ["a", "b/c", "raw/orders", "d"]


def _error(fn) -> str:
    with pytest.raises(DagsterInvalidDefinitionError) as raised:
        fn()
    return str(raised.value)


def test_cycle_names_the_keys() -> None:
    message = _error(lambda: materialize(m.cycle_assets()))
    assert "cycle" in message and "cycle_a" in message and "cycle_b" in message


def test_cycle_is_caught_as_in_dagster() -> None:
    # Dagster raises the toposort package's CircularDependencyError, a ValueError.
    with pytest.raises(ValueError) as raised:
        materialize(m.cycle_assets())
    assert type(raised.value).__name__ == "CircularDependencyError"
    assert isinstance(raised.value, DagsterInvalidDefinitionError)  # opgraph's error root too


def test_missing_upstream_names_the_key() -> None:
    message = _error(lambda: materialize(m.missing_upstream_assets()))
    assert "missing_upstream" in message and "no asset here defines" in message


def test_duplicate_key_names_the_key() -> None:
    message = _error(lambda: Definitions(assets=m.duplicate_assets()).get_assets_def("twice"))
    assert "twice is defined twice" in message


def test_part_of_a_non_subsettable_multi_asset_names_the_keys() -> None:
    message = _error(
        lambda: materialize_to_memory(
            m.ASSETS, resources=RESOURCES, selection=AssetSelection.keys("left").upstream()
        )
    )
    assert "['left']" in message and "['left', 'right']" in message and "'pair'" in message


def test_kinds_are_tags_as_in_dagster() -> None:
    """Dagster keeps an asset's kinds as `dagster/kind/<kind>` tags of its spec; such a
    tag is a kind. The catalog shows them as kinds, not as tags."""
    from opgraph import AssetSpec, Definitions, asset
    from opgraph.assets.definition import AssetAttributes

    spec = AssetSpec("table", kinds={"snowflake"}, tags={"tier": "gold"})
    assert spec.tags == {"tier": "gold", "dagster/kind/snowflake": ""}
    assert AssetSpec("t", tags={"dagster/kind/dbt": ""}).kinds == {"dbt"}

    @asset(kinds={"python"}, tags={"tier": "bronze"})
    def loaded() -> int:
        return 1

    [shown] = Definitions(assets=[loaded]).get_assets_def("loaded").specs
    assert shown.tags == {"tier": "bronze", "dagster/kind/python": ""}
    assert shown.kinds == {"python"}
    attrs = AssetAttributes.of(spec)
    assert (dict(attrs.tags), set(attrs.kinds)) == ({"tier": "gold"}, {"snowflake"})
