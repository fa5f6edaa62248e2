"""A partitioned op job whose run config comes from its daily_partitioned_config
(`dated`): the launchpad's partition picker fills in each day's config and tags."""

from opgraph import Config, Definitions, daily_partitioned_config, job, op


class DayConfig(Config):
    date: str
    until: str


@op
def report_day(context, config: DayConfig) -> str:
    context.log.info(f"report for {config.date} until {config.until}")
    return config.date


@daily_partitioned_config(
    start_date="2024-01-01",
    end_offset=0,
    tags_for_partition_fn=lambda start, _end: {"weekday": start.strftime("%A")},
)
def day_config(start, end):
    return {
        "ops": {
            "report_day": {
                "config": {"date": start.strftime("%Y-%m-%d"), "until": end.strftime("%Y-%m-%d")}
            }
        }
    }


@job(config=day_config)
def daily_report():
    report_day()


defs = Definitions(jobs=[daily_report])
