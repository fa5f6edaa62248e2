"""Fixtures for daemon tests: an instance (SQLite or PostgreSQL) with a queued run
coordinator and the in-memory launcher, and a workspace of one in-process location."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph.workspace import load_workspace
from opgraph.workspace.base import Workspace

IN_MEMORY_LAUNCHER = {"module": "launchers.testing", "class": "InMemoryRunLauncher"}

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


@pytest.fixture
def make_env(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeEnv]:
    made: list[DaemonEnv] = []

    def make(**sections: Any) -> DaemonEnv:
        home = tmp_path / f"home{len(made)}"
        home.mkdir()
        jobs = tmp_path / "jobs.py"
        jobs.write_text(textwrap.dedent(JOBS))
        files = tmp_path / "files"
        files.mkdir(exist_ok=True)
        monkeypatch.setenv("DAEMON_TEST_DIR", str(files))
        config = {
            "storage": {"url": storage_url},
            "run_coordinator": {"queued": {"max_concurrent_runs": 3}},
            "run_launcher": IN_MEMORY_LAUNCHER,
            **sections,
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        (home / "workspace.yaml").write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {"python_file": {"relative_path": str(jobs), "location_name": "loc"}}
                    ]
                }
            )
        )
        instance = OpgraphInstance.get(home)
        workspace = load_workspace(None, home, in_process=True)
        env = DaemonEnv(home, instance, workspace, files)
        made.append(env)
        return env

    yield make
    for env in made:
        env.workspace.close()
        env.instance.dispose()


@pytest.fixture
def env(make_env: MakeEnv) -> DaemonEnv:
    return make_env()
