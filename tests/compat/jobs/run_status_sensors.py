"""A Dagster job file with run status sensors (imports changed to opgraph)."""

import os
from pathlib import Path

from opgraph import (
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    job,
    op,
    run_failure_sensor,
    run_status_sensor,
)


@op
def work():
    return 1


@op
def explode():
    raise ValueError("exploded on purpose")


@op(config_schema={"source_run": str})
def note(context):
    return context.op_config["source_run"]


@job
def ok_job():
    work()


@job
def bad_job():
    explode()


@job
def notify_job():
    note()


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[ok_job],
    request_job=notify_job,
    default_status=DefaultSensorStatus.RUNNING,
)
def after_ok(context: RunStatusSensorContext):
    return RunRequest(
        run_config={"ops": {"note": {"config": {"source_run": context.dagster_run.run_id}}}}
    )


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def on_any_failure(context: RunFailureSensorContext):
    # One line per call: the test counts them (a sensor fires once per failed run).
    steps = [(e.step_key, e.message) for e in context.get_step_failure_events()]
    line = f"{context.dagster_run.job_name} {context.dagster_run.run_id} {steps}\n"
    with open(Path(os.environ["RUN_STATUS_SENSOR_DIR"]) / "failures.log", "a") as f:
        f.write(line)


@run_status_sensor(
    run_status=DagsterRunStatus.STARTED,
    monitored_jobs=[bad_job],
    default_status=DefaultSensorStatus.RUNNING,
)
def bad_job_started(context: RunStatusSensorContext):
    # A status runs pass through: one line per bad_job run that started.
    line = f"{context.dagster_run.job_name} {context.dagster_run.run_id} {context.dagster_event.event_type_value}\n"
    with open(Path(os.environ["RUN_STATUS_SENSOR_DIR"]) / "started.log", "a") as f:
        f.write(line)


defs = Definitions(
    jobs=[ok_job, bad_job, notify_job], sensors=[after_ok, on_any_failure, bad_job_started]
)
