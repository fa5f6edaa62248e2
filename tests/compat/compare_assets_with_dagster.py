"""Run the asset project tests/compat/jobs/asset_shapes.py under real Dagster and under
opgraph; compare what they give.

Outside `make test` (it needs Dagster, which opgraph does not depend on): it uses the
virtualenv of tests/compat/test_dagster_graphql_client.py (dagster-graphql brings dagster),
building it if needed. Usage: .venv/bin/python -m tests.compat.compare_assets_with_dagster
Prints one line per check and exits 1 if any differs.

Differences left on purpose (each pinned by a test in tests/compat/test_asset_compat.py or
tests/assets/test_graph_assets.py):
- key.from_coercible_slash, key.asset_in_slash: a "a/b" string is the key of two names
  (why: opgraph/assets/keys.py, to_asset_key).
- defs.asset.low: graph_multi_asset keeps AssetOut(group_name=...); Dagster 1.13 drops it
  there (not on multi_asset), as it did AssetOut owners until dagster#26108.
- error.cycle: the cycle error is Dagster's class name and a ValueError (error.cycle_class
  agrees) and also opgraph's DagsterInvalidDefinitionError, which the probe names first.
"""

from __future__ import annotations

from pathlib import Path

from tests.compat.side_by_side import compare

PROJECT = Path(__file__).with_name("jobs") / "asset_shapes.py"

# Runs in either interpreter on a copy of the project whose `from opgraph import (` became
# `from <framework> import (`. Each answer is plain JSON; a question that raises answers
# ["raised", <exception class>], so one gap does not hide the others.
PROBE = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import asset_shapes as m
fw = __import__(sys.argv[2])
AssetKey, AssetSelection = fw.AssetKey, fw.AssetSelection

out = {}
def ask(name, fn):
    try:
        out[name] = fn()
    except Exception as exc:
        out[name] = ["raised", type(exc).__name__, str(exc)[:200]]

def user(key):
    return key.to_user_string()

def keys(found):
    return sorted(user(k) for k in found)

def plain(metadata):
    return {k: getattr(v, "value", v) for k, v in sorted(metadata.items())}

RESOURCES = {"warehouse": m.Warehouse(rows=4), "lookup": m.Lookup(region="us")}
DAGSTER_ERRORS = ("DagsterInvalidSubsetError", "DagsterInvalidDefinitionError",
                  "DagsterInvariantViolationError", "DagsterError")

def error(fn, *names):
    # Which of Dagster's error classes the error is, and whether its message (or that of
    # the error it was raised from) names the keys.
    try:
        fn()
    except Exception as exc:
        kind = next((n for n in DAGSTER_ERRORS
                     if hasattr(fw, n) and isinstance(exc, getattr(fw, n))), type(exc).__name__)
        text, cause = str(exc), exc.__cause__ or exc.__context__
        while cause is not None:
            text, cause = text + " " + str(cause), cause.__cause__ or cause.__context__
        return [kind, {n: n in text for n in names}]
    return None

def raised_class(fn):
    # What a Dagster project's `except` sees: the class name, and whether it is a ValueError.
    try:
        fn()
    except Exception as exc:
        return [type(exc).__name__, isinstance(exc, ValueError)]
    return None

# -- AssetKey ------------------------------------------------------------------------------
k = AssetKey(["raw", "orders"])
ask("key.to_user_string", lambda: k.to_user_string())
ask("key.from_user_string", lambda: list(AssetKey.from_user_string("raw/orders").path))
ask("key.path_is_list", lambda: k.path == ["raw", "orders"])
ask("key.to_string", lambda: k.to_string())
ask("key.with_prefix", lambda: list(AssetKey("x").with_prefix(["a", "b"]).path))
ask("key.str_equals_list", lambda: AssetKey("x") == AssetKey(["x"]))
ask("key.hash", lambda: len({AssetKey("x"), AssetKey(["x"])}))
ask("key.order", lambda: [user(x) for x in sorted([AssetKey(["b"]), AssetKey(["a", "z"]), AssetKey(["a"])])])
ask("key.repr", lambda: repr(k))
ask("key.str", lambda: str(k))
ask("key.has_prefix", lambda: [k.has_prefix(["raw"]), k.has_prefix(["geo"])])
ask("key.to_python_identifier", lambda: k.to_python_identifier())
ask("key.from_coercible_slash", lambda: list(AssetKey.from_coercible("raw/orders").path))
ask("key.asset_in_slash", lambda: list(fw.AssetIn(key="raw/orders").key.path))
ask("check_key.to_user_string", lambda: fw.AssetCheckKey(k, "small").to_user_string())

# -- definitions ---------------------------------------------------------------------------
defs = m.defs
def describe(key):
    d = defs.get_assets_def(key)
    spec = next(s for s in d.specs if s.key == key)
    return {
        "keys": keys(d.keys), "node": d.node_def.name, "group": d.group_names_by_key[key],
        "description": d.descriptions_by_key.get(key), "code_version": d.code_versions_by_key.get(key),
        "metadata": plain(d.metadata_by_key.get(key, {})), "dependency_keys": keys(d.dependency_keys),
        "spec_deps": keys(dep.asset_key for dep in spec.deps), "spec_tags": dict(spec.tags),
        "spec_kinds": sorted(spec.kinds), "spec_owners": list(spec.owners),
        "check_keys": sorted(c.to_user_string() for c in d.check_keys),
        "can_subset": d.can_subset,
    }
for name in ["raw/orders", "raw/customers", "enriched", "daily_totals", "report",
             "customer_count", "geo/region_list", "left", "doubled_total", "low"]:
    ask(f"defs.asset.{name}", lambda name=name: describe(AssetKey.from_user_string(name)))
ask("defs.op_tags.enriched", lambda: dict(defs.get_assets_def("enriched").op.tags))
ask("defs.retry.enriched", lambda: defs.get_assets_def("enriched").op.retry_policy.max_retries)
ask("defs.check.totals_positive", lambda: [
    m.totals_positive.check_key.to_user_string(),
    sorted(s.blocking for s in m.totals_positive.check_specs)])

# -- selections ----------------------------------------------------------------------------
SELECTIONS = {
    "all": AssetSelection.all(),
    "keys": AssetSelection.keys("enriched", AssetKey(["raw", "orders"])),
    "keys_slash": AssetSelection.keys("raw/orders"),  # a user string here, in Dagster too
    "assets": AssetSelection.assets(m.orders, m.split),
    "groups": AssetSelection.groups("marts", "geo"),
    "key_prefixes": AssetSelection.key_prefixes("raw"),
    "key_prefixes_list": AssetSelection.key_prefixes(["geo"]),
    "tag": AssetSelection.tag("tier", "bronze"),
    "upstream": AssetSelection.keys("daily_totals").upstream(),
    "upstream_depth1": AssetSelection.keys("daily_totals").upstream(depth=1),
    "upstream_no_self": AssetSelection.keys("daily_totals").upstream(include_self=False),
    "downstream": AssetSelection.keys("enriched").downstream(),
    "downstream_depth1": AssetSelection.keys("enriched").downstream(depth=1),
    "downstream_external": AssetSelection.keys("external_feed").downstream(depth=1),
    "neighbors_fixed": AssetSelection.keys("left").required_multi_asset_neighbors(),
    "neighbors_subsettable": AssetSelection.keys("customer_count").required_multi_asset_neighbors(),
    "union": AssetSelection.groups("pair") | AssetSelection.keys("report"),
    "intersection": AssetSelection.groups("marts") & AssetSelection.tag("tier", "silver"),
    "difference": AssetSelection.all() - AssetSelection.groups("marts", "gated"),
}
ASSETS = [a for a in m.ASSETS if not isinstance(a, fw.AssetSpec)]
for name, selection in SELECTIONS.items():
    ask(f"selection.{name}", lambda selection=selection: keys(selection.resolve(ASSETS)))

# -- materialize everything ----------------------------------------------------------------
def evaluations(result):
    return sorted([e.asset_check_key.to_user_string(), e.passed, e.severity.value, plain(e.metadata)]
                  for e in result.get_asset_check_evaluations())

def materialized(result):
    return keys(e.asset_key for e in result.get_asset_materialization_events())

full = fw.materialize(m.ASSETS + m.CHECKS, resources=RESOURCES, raise_on_error=False)
ask("all.success", lambda: full.success)
ask("all.materialized", lambda: materialized(full))
ask("all.check_evaluations", lambda: evaluations(full))
ask("all.observations", lambda: keys(e.asset_key for e in full.get_asset_observation_events()))
ask("all.value.enriched", lambda: full.asset_value("enriched"))
ask("all.value.raw_customers", lambda: full.asset_value(AssetKey(["raw", "customers"])))
ask("all.value.split", lambda: [full.asset_value("customer_count"), full.asset_value(["geo", "region_list"])])
ask("all.value.graph_assets", lambda: [full.asset_value("doubled_total"), full.asset_value("low"), full.asset_value("high")])
ask("all.value.flaky_after_retry", lambda: full.asset_value("flaky"))
ask("all.retries", lambda: sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in full.all_events))
ask("all.output_for_node.enriched", lambda: full.output_for_node("enriched"))
ask("all.output_for_node.split", lambda: full.output_for_node("split", "customer_count"))
ask("all.metadata.enriched", lambda: [{k: v for k, v in plain(x.metadata).items() if k != "path"} for x in full.asset_materializations_for_node("enriched")])
ask("all.metadata.io_manager_path", lambda: ["path" in x.metadata for x in full.asset_materializations_for_node("enriched")])
ask("all.metadata.report", lambda: [plain(x.metadata) for x in full.asset_materializations_for_node("report")])
ask("all.metadata.orders_by_key", lambda: [sorted(e.materialization.metadata) for e in full.get_asset_materialization_events() if e.asset_key == AssetKey(["raw", "orders"])])
ask("all.metadata.pair", lambda: sorted([user(x.asset_key), plain(x.metadata)] for x in full.asset_materializations_for_node("pair")))
ask("all.metadata_values.report", lambda: sorted(k for k, v in full.asset_materializations_for_node("report")[0].metadata.items() if isinstance(v, fw.MetadataValue)))
ask("all.metadata_equality", lambda: full.asset_materializations_for_node("report")[0].metadata["rows"] == fw.MetadataValue.int(3))
ask("all.gated_sink_skipped", lambda: "gated_sink" not in materialized(full))

# -- materialize a selection with resources, run config and tags ---------------------------
def selected():
    return fw.materialize_to_memory(
        m.ASSETS + m.CHECKS,
        selection=AssetSelection.keys("daily_totals").upstream() | AssetSelection.keys("customer_count"),
        resources=RESOURCES,
        run_config={"ops": {"enriched": {"config": {"factor": 2}},
                            "raw__customers": {"config": {"limit": 3}}}},
        tags={"who": "probe"},
    )
part = selected()
ask("selected.success", lambda: part.success)
ask("selected.materialized", lambda: materialized(part))
ask("selected.check_evaluations", lambda: evaluations(part))
ask("selected.values", lambda: [part.asset_value("daily_totals"), part.asset_value("customer_count")])
ask("selected.run_tag", lambda: part.dagster_run.tags.get("who"))
sub = fw.materialize_to_memory(m.ASSETS + m.CHECKS, resources=RESOURCES,
                               selection=AssetSelection.keys("low").upstream())
ask("graph_subset.materialized", lambda: materialized(sub))
ask("graph_subset.value", lambda: sub.asset_value("low"))

# -- asset jobs ----------------------------------------------------------------------------
marts = defs.resolve_job_def("marts_job").execute_in_process()
ask("marts_job.materialized", lambda: materialized(marts))
ask("marts_job.checks", lambda: evaluations(marts))
ask("marts_job.enriched", lambda: marts.output_for_node("enriched"))
ask("marts_job.tag", lambda: marts.dagster_run.tags.get("team"))
ask("raw_job.materialized", lambda: materialized(defs.resolve_job_def("raw_job").execute_in_process()))
ask("implicit_job.materialized", lambda: materialized(defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)))

# -- asset events logged by an op ----------------------------------------------------------
ran = m.file_job.execute_in_process()
ask("op_events.materialized", lambda: materialized(ran))
ask("op_events.observed", lambda: keys(e.asset_key for e in ran.get_asset_observation_events()))
ask("op_events.for_node", lambda: [[user(x.asset_key), x.description, plain(x.metadata)] for x in ran.asset_materializations_for_node("write_file")])

# -- errors naming the keys ----------------------------------------------------------------
ask("error.cycle", lambda: error(lambda: fw.materialize(m.cycle_assets()), "cycle_a", "cycle_b"))
ask("error.cycle_class", lambda: raised_class(lambda: fw.materialize(m.cycle_assets())))
ask("error.missing_upstream", lambda: error(lambda: fw.materialize(m.missing_upstream_assets()), "missing_upstream"))
ask("error.duplicate", lambda: error(lambda: fw.materialize(m.duplicate_assets()), "twice"))
ask("error.duplicate_definitions", lambda: error(lambda: fw.Definitions(assets=m.duplicate_assets()).resolve_asset_graph(), "twice"))
ask("error.non_subsettable", lambda: error(lambda: fw.materialize_to_memory(
    m.ASSETS, resources=RESOURCES, selection=AssetSelection.keys("left").upstream()), "left", "right"))
ask("error.unknown_key_selection", lambda: error(lambda: fw.materialize_to_memory(
    m.ASSETS, resources=RESOURCES, selection=AssetSelection.keys("nowhere")), "nowhere"))
print(json.dumps(out, default=repr))
"""


def main() -> int:
    return compare(PROJECT, PROBE)


if __name__ == "__main__":
    raise SystemExit(main())
