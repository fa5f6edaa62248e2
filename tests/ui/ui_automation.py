"""An asset with an automation condition, for the asset page's automation panel (`auto`)."""

from opgraph import AutomationCondition, Definitions, asset


@asset
def hourly_source() -> int:
    return 1


@asset(automation_condition=AutomationCondition.on_cron("0 * * * *"))
def hourly_rollup(hourly_source: int) -> int:
    return hourly_source + 1


defs = Definitions(assets=[hourly_source, hourly_rollup])
