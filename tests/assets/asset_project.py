"""A Dagster asset project; only its import line differs from the Dagster original
(`from dagster import ...`). Used by the run, catalog and GraphQL tests."""

import json
import os
from pathlib import Path

from opgraph import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetSelection,
    AssetSpec,
    Config,
    ConfigurableResource,
    Definitions,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    define_asset_job,
    graph_asset,
    multi_asset,
    op,
)


class Warehouse(ConfigurableResource):
    rows: int = 3


class OrdersConfig(Config):
    multiplier: int = 1


external_feed = AssetSpec("external_feed", group_name="raw", description="written by another team")


@asset(
    group_name="raw", key_prefix=["raw"], kinds={"python"}, code_version="1", deps=[external_feed]
)
def orders(context: AssetExecutionContext, config: OrdersConfig, warehouse: Warehouse):
    """Orders loaded from the warehouse."""
    context.log.info(f"loading {warehouse.rows} orders")
    rows = [{"id": i, "amount": (i + 1) * 10 * config.multiplier} for i in range(warehouse.rows)]
    return Output(rows, metadata={"row_count": MetadataValue.int(len(rows))})


@asset(
    group_name="marts",
    ins={"orders": AssetIn(key=AssetKey(["raw", "orders"]))},
    retry_policy=RetryPolicy(max_retries=2),
    op_tags={"team": "finance"},
    check_specs=[AssetCheckSpec("positive", asset="revenue")],
)
def revenue(context: AssetExecutionContext, orders):
    # Fails once when a run tag names a marker file: a per-asset retry covers it.
    marker = context.get_tag("test/flaky_marker")
    if marker and not Path(marker).exists():
        Path(marker).write_text("failed once")
        raise RuntimeError("flaky warehouse")
    total = sum(row["amount"] for row in orders)
    yield Output(total, metadata={"total": total})
    yield AssetCheckResult(passed=total > 0, metadata={"total": total})


@multi_asset(
    outs={"customers": AssetOut(group_name="marts"), "regions": AssetOut(group_name="marts")},
    ins={"orders": AssetIn(key="raw/orders")},
    can_subset=True,
)
def split(context: AssetExecutionContext, orders):
    for name in sorted(context.selected_output_names):
        yield Output(len(orders) if name == "customers" else ["eu"], output_name=name)


@asset(deps=[revenue], group_name="reports")
def report(context: AssetExecutionContext) -> MaterializeResult:
    # Fails while a run tag names a marker file that exists (re-execution tests).
    broken = context.get_tag("test/report_broken")
    if broken and Path(broken).exists():
        raise RuntimeError("report is broken")
    path = Path(context.get_tag("test/report") or os.devnull)
    if path != Path(os.devnull):
        path.write_text(json.dumps({"done": True}))
    return MaterializeResult(metadata={"path": MetadataValue.path(str(path))})


@op
def double(x):
    return x * 2


@graph_asset(group_name="marts")
def doubled_revenue(revenue):
    return double(revenue)


@asset_check(asset=orders, blocking=True)
def orders_not_empty(orders):
    return AssetCheckResult(passed=len(orders) > 0, metadata={"rows": len(orders)})


marts_job = define_asset_job("marts_job", selection=AssetSelection.groups("marts"))

defs = Definitions(
    assets=[external_feed, orders, revenue, split, report, doubled_revenue],
    asset_checks=[orders_not_empty],
    jobs=[marts_job],
    resources={"warehouse": Warehouse(rows=4)},
)
