# dagster original: from dagster import Config, ConfigurableResource, DefaultScheduleStatus,
#     DefaultSensorStatus, Definitions, OpExecutionContext, RunRequest, ScheduleDefinition,
#     ScheduleEvaluationContext, SensorEvaluationContext, SkipReason, job, op, schedule, sensor
"""Jobs automated by schedules and a sensor, gathered in one Definitions object."""

import json
import os
from pathlib import Path

from opgraph import (
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
    sensor,
)

# --- an hourly job whose resource is bound by Definitions ---------------------------------------


class MetricsStore(ConfigurableResource):
    namespace: str = "default"

    def key_for(self, name: str) -> str:
        return f"{self.namespace}:{name}"


@op
def collect_metrics(context: OpExecutionContext, metrics: MetricsStore) -> dict:
    snapshot = {"queue_depth": 7, "error_rate": 0.02}
    context.log.info(f"collected {len(snapshot)} metrics")
    return {metrics.key_for(name): value for name, value in snapshot.items()}


@job
def refresh_metrics_job():
    collect_metrics()


hourly_metrics = ScheduleDefinition(job=refresh_metrics_job, cron_schedule="0 * * * *")

# --- a daily report whose run config comes from the schedule ----------------------------------


class ReportConfig(Config):
    report_date: str
    region: str = "emea"


@op
def build_report(context: OpExecutionContext, config: ReportConfig) -> dict:
    context.log.info(f"building the {config.region} report for {config.report_date}")
    return {"title": f"Sales {config.region} {config.report_date}", "region": config.region}


@job
def daily_report_job():
    build_report()


@schedule(
    cron_schedule="0 6 * * *",
    job=daily_report_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_report_schedule(context: ScheduleEvaluationContext):
    report_date = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return RunRequest(
        run_key=None,
        run_config={
            "ops": {"build_report": {"config": {"report_date": report_date, "region": "apac"}}}
        },
        tags={"report_date": report_date, "team": "sales"},
    )


# --- a sensor that launches one run per new order file ----------------------------------------


class OrderFileConfig(Config):
    path: str


@op
def process_order_file(context: OpExecutionContext, config: OrderFileConfig) -> dict:
    order = json.loads(Path(config.path).read_text())
    total = sum(line["qty"] * line["price"] for line in order["lines"])
    context.log.info(f"order {order['order_id']}: total {total}")
    return {"order_id": order["order_id"], "total": total}


@job
def process_order_job():
    process_order_file()


def orders_inbox() -> Path:
    return Path(os.environ.get("ORDERS_INBOX_DIR", "/var/spool/orders"))


@sensor(
    job=process_order_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
)
def new_order_file_sensor(context: SensorEvaluationContext):
    inbox = orders_inbox()
    last_seen = context.cursor or ""
    new_files = sorted(
        path.name for path in inbox.glob("order_*.json") if path.is_file() and path.name > last_seen
    )
    if not new_files:
        yield SkipReason(f"no order files newer than {last_seen!r} in {inbox}")
        return
    for name in new_files:
        yield RunRequest(
            run_key=name,
            run_config={"ops": {"process_order_file": {"config": {"path": str(inbox / name)}}}},
            tags={"order_file": name},
        )
    context.update_cursor(new_files[-1])


defs = Definitions(
    jobs=[refresh_metrics_job, daily_report_job, process_order_job],
    schedules=[hourly_metrics, daily_report_schedule],
    sensors=[new_order_file_sensor],
    resources={"metrics": MetricsStore(namespace="prod")},
)
