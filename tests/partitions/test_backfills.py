"""Backfills of a partitioned job, tick by tick, on SQLite and PostgreSQL: the in-flight
limit, per-partition status, a crash between claiming a partition and making its run, two
daemons at once, cancel and resume. Runs are launched by the in-memory launcher and
finished by the test (the run worker's part is tested in test_partition_worker.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.errors import OpgraphError
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill import (
    BackfillDaemon,
    PartitionSelection,
    backfill_run_id,
    cancel_backfill,
    launch_backfill,
    resume_backfill,
)
from opgraph.partitions.definitions import PartitionKeyError
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph.workspace.base import DefinitionNotFound
from opgraph_storage.partitions_base import BackfillPartitionStatus, BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus

P = BackfillPartitionStatus
T0 = 1_800_000_000.0

JOBS = """
from opgraph import DailyPartitionsDefinition, Definitions, daily_partitioned_config, job, op


@daily_partitioned_config(start_date="2024-01-01")
def day_config(start, end):
    return {"ops": {"load": {"config": {"day": start.strftime("%Y-%m-%d")}}}}


@op(config_schema={"day": str})
def load(context):
    return context.op_config["day"]


@job(config=day_config)
def daily_job():
    load()


@op
def noop():
    pass


@job(partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"))
def plain_job():
    noop()


@job
def unpartitioned():
    noop()


defs = Definitions(jobs=[daily_job, plain_job, unpartitioned])
"""


def in_memory_env(
    tmp_path: Path, storage_url: str, code: str
) -> Iterator[tuple[OpgraphInstance, Any]]:
    """An instance over `storage_url` with the in-memory launcher, and a workspace of one
    location ("loc") loading `code`."""
    from opgraph.workspace import load_workspace

    home = tmp_path / "home"
    home.mkdir()
    jobs = tmp_path / "backfill_jobs.py"
    jobs.write_text(textwrap.dedent(code))
    config = {
        "storage": {"url": storage_url},
        "run_launcher": {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": str(jobs), "location_name": "loc"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield instance, workspace
    workspace.close()
    instance.dispose()


@pytest.fixture
def env(tmp_path: Path, storage_url: str) -> Iterator[tuple[OpgraphInstance, Any]]:
    yield from in_memory_env(tmp_path, storage_url, JOBS)


def _runs(instance: OpgraphInstance, backfill_id: str) -> list[Any]:
    return instance.storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))


def _finish(
    instance: OpgraphInstance, run_id: str, event: EventType = EventType.RUN_SUCCESS
) -> None:
    append_lifecycle_event(instance, run_id, EventType.RUN_START)
    assert append_lifecycle_event(instance, run_id, event)


def _live(instance: OpgraphInstance, backfill_id: str) -> list[Any]:
    return [r for r in _runs(instance, backfill_id) if r.status is RunStatus.STARTING]


def test_a_backfill_runs_every_partition_once_within_its_limit(env: Any) -> None:
    instance, workspace = env
    backfill = launch_backfill(
        instance,
        workspace,
        "daily_job",
        PartitionSelection(range=("2024-01-01", "2024-01-20")),
        max_runs_in_flight=5,
        tags={"team": "data"},
    )
    assert backfill.num_partitions == 20 and backfill.location_name == "loc"
    daemon = BackfillDaemon(instance, workspace)
    report = daemon.tick(T0)
    assert report.errors == [] and report.info["runs_submitted"] == 5
    runs = _runs(instance, backfill.backfill_id)
    assert len(runs) == 5
    first = min(runs, key=lambda r: r.tags["dagster/partition"])
    assert first.tags["dagster/partition"] == "2024-01-01" and first.tags["team"] == "data"
    assert first.run_config == {"ops": {"load": {"config": {"day": "2024-01-01"}}}}
    assert first.run_id == backfill_run_id(backfill.backfill_id, "daily_job", "2024-01-01")
    daemon.tick(T0 + 1)  # nothing finished: nothing more in flight
    assert len(_runs(instance, backfill.backfill_id)) == 5
    failed_key = "2024-01-03"
    for tick in range(2, 40):
        for run in _live(instance, backfill.backfill_id):
            bad = run.tags["dagster/partition"] == failed_key
            _finish(instance, run.run_id, EventType.RUN_FAILURE if bad else EventType.RUN_SUCCESS)
        daemon.tick(T0 + tick)
        assert len(_live(instance, backfill.backfill_id)) <= 5
        done = instance.storage.get_backfill(backfill.backfill_id)
        if done is not None and done.status is BackfillStatus.COMPLETED:
            break
    assert done is not None and done.status is BackfillStatus.COMPLETED
    assert instance.storage.count_backfill_partitions(backfill.backfill_id) == {
        P.MATERIALIZED: 19,
        P.FAILED: 1,
    }
    keys = [r.tags["dagster/partition"] for r in _runs(instance, backfill.backfill_id)]
    assert sorted(keys) == [f"2024-01-{d:02d}" for d in range(1, 21)]  # each once


def test_a_crash_after_the_claim_and_a_second_daemon_make_no_second_run(env: Any) -> None:
    instance, workspace = env
    backfill = launch_backfill(
        instance, workspace, "plain_job", PartitionSelection(all=True), max_runs_in_flight=3
    )
    # A daemon that claimed two partitions and died before making their runs.
    claimed = [("plain_job", "2024-01-01"), ("plain_job", "2024-01-02")]
    for target, key in claimed:
        run_id = backfill_run_id(backfill.backfill_id, target, key)
        moved = instance.storage.move_backfill_partitions(
            backfill.backfill_id, [(target, key)], P.SUBMITTED, [P.PENDING], T0, run_id=run_id
        )
        assert moved == 1
    one, two = BackfillDaemon(instance, workspace), BackfillDaemon(instance, workspace)
    one.tick(T0 + 1)
    two.tick(T0 + 1)
    runs = _runs(instance, backfill.backfill_id)
    keys = sorted(r.tags["dagster/partition"] for r in runs)
    assert keys == ["2024-01-01", "2024-01-02", "2024-01-03"]  # the limit held, no repeats
    assert all(r.status is RunStatus.STARTING for r in runs)
    assert runs[0].run_config == {}  # no partitioned config: no run config


def test_cancel_then_resume(env: Any) -> None:
    instance, workspace = env
    backfill = launch_backfill(
        instance,
        workspace,
        "daily_job",
        PartitionSelection(keys=("2024-01-05", "2024-01-06", "2024-01-07")),
        max_runs_in_flight=2,
    )
    daemon = BackfillDaemon(instance, workspace)
    daemon.tick(T0)
    assert cancel_backfill(instance, backfill.backfill_id, T0 + 1)
    assert not cancel_backfill(instance, backfill.backfill_id, T0 + 1)
    daemon.tick(T0 + 2)
    # No new run; the pending partition is canceled; the two in flight were asked to stop.
    runs = _runs(instance, backfill.backfill_id)
    assert len(runs) == 2 and {r.status for r in runs} == {RunStatus.CANCELING}
    assert instance.storage.get_backfill(backfill.backfill_id).status is BackfillStatus.CANCELING  # type: ignore[union-attr]
    for run in runs:
        append_lifecycle_event(instance, run.run_id, EventType.RUN_CANCELED)
    daemon.tick(T0 + 3)
    assert instance.storage.get_backfill(backfill.backfill_id).status is BackfillStatus.CANCELED  # type: ignore[union-attr]
    assert instance.storage.count_backfill_partitions(backfill.backfill_id) == {P.CANCELED: 3}
    # Resume: the partition that never ran goes back to PENDING and runs.
    assert resume_backfill(instance, backfill.backfill_id, T0 + 4)
    daemon.tick(T0 + 5)
    live = _live(instance, backfill.backfill_id)
    assert [r.tags["dagster/partition"] for r in live] == ["2024-01-07"]


def test_bad_launches_say_what_is_wrong(env: Any) -> None:
    instance, workspace = env
    with pytest.raises(DefinitionNotFound, match="no loaded code location has a job named 'nope'"):
        launch_backfill(instance, workspace, "nope", PartitionSelection(all=True))
    with pytest.raises(
        PartitionKeyError, match=r"\['2023-12-31'\] are not partitions of job 'daily_job'"
    ):
        launch_backfill(instance, workspace, "daily_job", PartitionSelection(keys=("2023-12-31",)))
    with pytest.raises(PartitionKeyError, match="backwards"):
        launch_backfill(
            instance, workspace, "daily_job", PartitionSelection(range=("2024-01-09", "2024-01-02"))
        )
    with pytest.raises(OpgraphError, match="job 'unpartitioned' is not partitioned"):
        launch_backfill(instance, workspace, "unpartitioned", PartitionSelection(all=True))
    with pytest.raises(OpgraphError, match="max_runs_in_flight must be at least 1"):
        launch_backfill(
            instance, workspace, "daily_job", PartitionSelection(all=True), max_runs_in_flight=0
        )
