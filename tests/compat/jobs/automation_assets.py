"""An asset project as a Dagster user writes one with declarative automation
(`from dagster import ...` replaced by `from opgraph import ...`)."""

import datetime

from opgraph import (
    AssetSpec,
    AutomationCondition,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    multi_asset,
)

daily = DailyPartitionsDefinition(start_date="2026-11-01")


@asset
def raw_orders():
    return [1, 2, 3]


@asset(automation_condition=AutomationCondition.eager())
def orders(raw_orders):
    return sum(raw_orders)


@asset(automation_condition=AutomationCondition.on_cron("0 9 * * 1-5", "America/New_York"))
def weekday_report(orders):
    return orders * 2


@asset(partitions_def=daily, automation_condition=AutomationCondition.on_missing())
def daily_events(context):
    return context.partition_key


# The docs' composed conditions: eager without waiting on one dep's updates, new code.
any_important_deps_missing = AutomationCondition.any_deps_match(AutomationCondition.missing())
new_code_version = AutomationCondition.code_version_changed().since(
    AutomationCondition.newly_requested()
)


@asset(
    code_version="2",
    automation_condition=(new_code_version & ~any_important_deps_missing).with_label("new_code"),
)
def model(orders):
    return orders


@asset(
    partitions_def=daily,
    automation_condition=(
        AutomationCondition.in_latest_time_window(datetime.timedelta(days=2))
        & AutomationCondition.execution_failed()
        & ~AutomationCondition.in_progress()
    ),
)
def retried_daily(context):
    return context.partition_key


@multi_asset(
    specs=[
        AssetSpec("left", automation_condition=AutomationCondition.eager(), deps=["orders"]),
        AssetSpec("right", deps=["orders"]),
    ]
)
def split():
    pass


defs = Definitions(
    assets=[raw_orders, orders, weekday_report, daily_events, model, retried_daily, split]
)
