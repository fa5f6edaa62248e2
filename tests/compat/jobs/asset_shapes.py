"""A Dagster asset project with the shapes of issue #15's API list; only its import line
differs from the Dagster original (`from dagster import (`).

tests/compat/test_asset_compat.py runs it on opgraph; tests/compat/compare_assets_with_dagster.py
runs a copy with the import switched under real Dagster too and compares the answers. Keys
are given as AssetKey lists or one-name strings: Dagster reads "a/b" as one name.
"""

from opgraph import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetOut,
    AssetSelection,
    AssetSpec,
    Config,
    ConfigurableResource,
    Definitions,
    Field,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    define_asset_job,
    graph_asset,
    graph_multi_asset,
    job,
    multi_asset,
    op,
)


class Warehouse(ConfigurableResource):
    rows: int = 3


class Lookup(ConfigurableResource):
    region: str = "eu"


class ScaleConfig(Config):
    factor: int = 1


# External assets: described here, written by someone else.
external_feed = AssetSpec("external_feed", group_name="raw", description="written by another team")
vendor_file = AssetSpec(AssetKey(["vendor", "file"]), group_name="raw")


@asset(
    key_prefix=["raw"],
    group_name="raw",
    description="orders loaded from the warehouse",
    metadata={"source": "warehouse"},
    tags={"tier": "bronze"},
    kinds={"python"},
    owners=["team:data"],
    code_version="1",
    deps=[external_feed, AssetKey(["vendor", "file"])],
)
def orders(context: AssetExecutionContext, warehouse: Warehouse):
    rows = [{"id": i, "amount": (i + 1) * 10} for i in range(warehouse.rows)]
    return Output(
        rows,
        metadata={
            "row_count": MetadataValue.int(len(rows)),
            "preview": MetadataValue.md("| id | amount |"),
            "dagster/row_count": len(rows),
        },
    )


@asset(
    key=["raw", "customers"],
    group_name="raw",
    tags={"tier": "bronze"},
    required_resource_keys={"lookup"},
    config_schema={"limit": Field(int, default_value=2)},
)
def customers(context: AssetExecutionContext):
    region = context.resources.lookup.region
    return [f"{region}-{i}" for i in range(context.op_config["limit"])]


@asset(
    group_name="marts",
    ins={
        "raw_orders": AssetIn(key=AssetKey(["raw", "orders"])),
        "raw_customers": AssetIn(key=["raw", "customers"]),
    },
    retry_policy=RetryPolicy(max_retries=2),
    op_tags={"celery/queue": "marts"},
    tags={"tier": "silver"},
    check_specs=[AssetCheckSpec("has_rows", asset="enriched")],
)
def enriched(context: AssetExecutionContext, config: ScaleConfig, raw_orders, raw_customers):
    total = sum(row["amount"] for row in raw_orders) * config.factor
    yield Output(
        {"total": total, "customers": len(raw_customers)},
        metadata={"total": total, "ratio": 0.5, "label": "ok", "flag": True},
    )
    yield AssetCheckResult(passed=total > 0, metadata={"total": total})


@asset(group_name="marts")
def daily_totals(enriched):
    """Upstream by parameter name."""
    return enriched["total"]


@asset(group_name="marts", retry_policy=RetryPolicy(max_retries=1))
def flaky(context: AssetExecutionContext, daily_totals):
    if context.retry_number == 0:
        raise RuntimeError("first attempt fails")
    return daily_totals + context.retry_number


@asset(
    deps=[daily_totals, "enriched", AssetKey(["raw", "customers"]), external_feed],
    group_name="reports",
    tags={"tier": "gold"},
)
def report(context: AssetExecutionContext) -> MaterializeResult:
    context.log_event(AssetObservation(asset_key="report", metadata={"seen": 1}))
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path("/tmp/report.txt"),
            "link": MetadataValue.url("https://example.com/report"),
            "payload": MetadataValue.json({"a": [1, 2]}),
            "note": MetadataValue.text("hello"),
            "score": MetadataValue.float(0.25),
            "rows": MetadataValue.int(3),
            "dagster/row_count": 3,
        }
    )


@multi_asset(
    outs={
        "customer_count": AssetOut(group_name="marts", tags={"tier": "silver"}, is_required=False),
        "region_list": AssetOut(key_prefix=["geo"], group_name="geo", is_required=False),
    },
    ins={"raw_customers": AssetIn(key=AssetKey(["raw", "customers"]))},
    can_subset=True,
)
def split(context: AssetExecutionContext, raw_customers):
    for name in sorted(context.selected_output_names):
        if name == "customer_count":
            yield Output(len(raw_customers), output_name=name)
        else:
            yield Output(sorted({c.split("-")[0] for c in raw_customers}), output_name=name)


@multi_asset(
    specs=[
        AssetSpec("left", group_name="pair", deps=[AssetKey(["raw", "orders"])]),
        AssetSpec("right", group_name="pair", deps=["daily_totals"]),
    ],
    check_specs=[AssetCheckSpec("left_ok", asset="left")],
)
def pair(context: AssetExecutionContext):
    yield MaterializeResult(asset_key="left", metadata={"side": "left"})
    yield MaterializeResult(asset_key="right", metadata={"side": "right"})
    yield AssetCheckResult(asset_key="left", check_name="left_ok", passed=True)


@op
def double(x):
    return x * 2


@op
def add_one(x):
    return x + 1


@op
def negate(x):
    return -x


@graph_asset(group_name="marts", description="daily total doubled, plus one")
def doubled_total(daily_totals):
    return add_one(double(daily_totals))


@graph_multi_asset(
    outs={"low": AssetOut(group_name="bounds"), "high": AssetOut(group_name="bounds")},
    can_subset=True,
)
def bounds(daily_totals):
    return {"low": negate(daily_totals), "high": double(daily_totals)}


@asset_check(asset=daily_totals, blocking=True)
def totals_positive(daily_totals):
    return AssetCheckResult(passed=daily_totals > 0, metadata={"value": daily_totals})


@asset_check(asset=AssetKey(["raw", "orders"]), description="warns, never blocks")
def orders_small():
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.WARN, metadata={"limit": MetadataValue.int(2)}
    )


# A blocking check that fails: what is downstream of the checked asset does not run.
@asset(group_name="gated")
def gated_source():
    return -1


@asset_check(asset=gated_source, blocking=True)
def gated_source_positive(gated_source):
    return AssetCheckResult(passed=gated_source > 0)


@asset(group_name="gated")
def gated_sink(gated_source):
    return gated_source * 10


# An op job that logs asset events for data it wrote itself.
@op
def write_file(context):
    context.log_event(
        AssetMaterialization(
            asset_key="op_file", description="written by an op", metadata={"size": 10}
        )
    )
    yield AssetObservation(asset_key="op_file", metadata={"checked": MetadataValue.bool(True)})
    yield AssetMaterialization(asset_key=AssetKey(["op", "other"]))
    yield Output(1)


@job
def file_job():
    write_file()


ASSETS = [
    external_feed,
    vendor_file,
    orders,
    customers,
    enriched,
    daily_totals,
    flaky,
    report,
    split,
    pair,
    doubled_total,
    bounds,
    gated_source,
    gated_sink,
]
CHECKS = [totals_positive, orders_small, gated_source_positive]

marts_job = define_asset_job(
    "marts_job",
    selection=(AssetSelection.groups("marts") | AssetSelection.key_prefixes("raw"))
    - AssetSelection.assets(flaky),
    tags={"team": "finance"},
    config={"ops": {"enriched": {"config": {"factor": 3}}}},
)
raw_job = define_asset_job("raw_job", selection=AssetSelection.key_prefixes("raw"))

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[marts_job, raw_job, file_job],
    resources={"warehouse": Warehouse(rows=4), "lookup": Lookup(region="us")},
)


# Definitions that must fail, each with an error naming the keys.
def cycle_assets():
    @asset(deps=["cycle_b"])
    def cycle_a():
        return 1

    @asset(deps=[cycle_a])
    def cycle_b():
        return 2

    return [cycle_a, cycle_b]


def missing_upstream_assets():
    @asset
    def needs_missing(missing_upstream):
        return missing_upstream

    return [needs_missing]


def duplicate_assets():
    @asset(name="twice")
    def first():
        return 1

    @asset(name="twice")
    def second():
        return 2

    return [first, second]
