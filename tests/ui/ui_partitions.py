"""A partitioned asset and job for the partition and backfill pages' browser tests
(`parts`): six days; the asset fails on 2024-01-05, so a backfill has a failed partition."""

from opgraph import DailyPartitionsDefinition, Definitions, asset, define_asset_job

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-07")
FAILING_DAY = "2024-01-05"


@asset(partitions_def=DAILY)
def daily_sales(context) -> str:
    if context.partition_key == FAILING_DAY:
        raise ValueError(f"no sales file for {FAILING_DAY}")
    return context.partition_key


defs = Definitions(
    assets=[daily_sales], jobs=[define_asset_job("sales_job", selection=["daily_sales"])]
)
