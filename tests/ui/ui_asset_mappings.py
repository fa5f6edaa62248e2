"""Partitioned assets whose dependencies name partition mappings, for the asset graph's
edge labels (`mapped`; loaded by the location's code server, never imported by tests)."""

from opgraph import (
    AssetIn,
    DailyPartitionsDefinition,
    Definitions,
    LastPartitionMapping,
    TimeWindowPartitionMapping,
    asset,
)

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")


@asset(partitions_def=DAILY, group_name="mapped")
def daily_events(context) -> int:
    return 1


@asset(
    partitions_def=DAILY,
    group_name="mapped",
    ins={
        "daily_events": AssetIn(
            partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
        )
    },
)
def rolling_events(context, daily_events) -> int:
    return 2


@asset(partitions_def=DAILY, group_name="mapped")
def same_day_events(context, daily_events) -> int:  # names no mapping
    return 3


@asset(group_name="mapped", ins={"daily_events": AssetIn(partition_mapping=LastPartitionMapping())})
def latest_events(daily_events) -> int:
    return 4


defs = Definitions(assets=[daily_events, rolling_events, same_day_events, latest_events])
