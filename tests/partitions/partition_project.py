"""A partitioned asset project for the executor tests: a daily chain, and a downstream
that reads the previous day."""

from opgraph import (
    AssetIn,
    DailyPartitionsDefinition,
    Definitions,
    TimeWindowPartitionMapping,
    asset,
    define_asset_job,
)

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


@asset(partitions_def=DAILY)
def orders(context):
    return {"day": context.partition_key, "rows": int(context.partition_key[-2:])}


@asset(partitions_def=DAILY)
def totals(context, orders):
    assert orders["day"] == context.partition_key
    return orders["rows"] * 10


@asset(
    partitions_def=DAILY,
    ins={
        "totals": AssetIn(
            partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
        )
    },
)
def two_days(context, totals):
    # The previous day's and this day's totals, as {partition key: value}.
    return sorted(totals.items())


defs = Definitions(
    assets=[orders, totals, two_days],
    jobs=[define_asset_job("daily_chain", selection=["orders", "totals", "two_days"])],
)
