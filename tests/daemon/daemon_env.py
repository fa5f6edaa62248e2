"""What daemon tests share: the job file of their code location and `DaemonEnv` (a module
name no other test dir uses, so `from daemon_env import ...` finds this one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import Workspace

IN_MEMORY_LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}

JOBS = '''
import os
from pathlib import Path

from opgraph import (
    DefaultScheduleStatus, RunRequest, ScheduleDefinition, SkipReason, job, op, schedule, sensor,
)


@op(config_schema={"rows": int})
def load(context) -> int:
    return context.op_config["rows"]


@job
def etl():
    load()


@op
def other_op() -> int:
    return 1


@job
def other():
    other_op()


hourly = ScheduleDefinition(
    name="hourly",
    cron_schedule="0 * * * *",
    job=etl,
    run_config={"ops": {"load": {"config": {"rows": 1}}}},
    tags={"team": "data"},
)


@schedule(cron_schedule="0 9 * * *", job=etl, execution_timezone="Europe/Berlin")
def berlin_morning(context):
    hour = context.scheduled_execution_time.hour
    return RunRequest(run_config={"ops": {"load": {"config": {"rows": hour}}}})


@schedule(cron_schedule="*/30 * * * *", job=other)
def half_hourly(context):
    if context.scheduled_execution_time.minute == 30:
        return SkipReason("only on the hour")
    return {}


@schedule(cron_schedule="* * * * *", job=other, default_status=DefaultScheduleStatus.RUNNING)
def every_minute(context):
    return RunRequest(tags={"minute": str(context.scheduled_execution_time.minute)})


@schedule(cron_schedule="0 0 * * *", job=other)
def broken(context):
    raise ValueError("the schedule function is broken")


@schedule(cron_schedule="0 0 * * *", job=etl)
def bad_config(context):
    return RunRequest(run_config={"ops": {"load": {"config": {"rows": "many"}}}})


@sensor(job=other, minimum_interval_seconds=30)
def new_files(context):
    """One run per file in $DAEMON_TEST_DIR named after the cursor."""
    folder = Path(os.environ["DAEMON_TEST_DIR"])
    seen = context.cursor or ""
    names = sorted(p.name for p in folder.iterdir() if p.name > seen)
    if not names:
        return SkipReason("no new files")
    context.update_cursor(names[-1])
    return [RunRequest(run_key=name, tags={"file": name}) for name in names]


@sensor(job=other, minimum_interval_seconds=10)
def failing_sensor(context):
    raise RuntimeError("sensor exploded")
'''


@dataclass
class DaemonEnv:
    home: Path
    instance: OpgraphInstance
    workspace: Workspace
    files: Path  # the new_files sensor's folder

    @property
    def launcher(self) -> Any:
        return self.instance.run_launcher


MakeEnv = Callable[..., DaemonEnv]
