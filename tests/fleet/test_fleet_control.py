"""Priorities, the in-memory IO manager refusal, and the `opgraph workers` commands."""

import json
import threading
import time

import pytest

from opgraph import execute_job, job, mem_io_manager, op, reconstructable
from opgraph_app import create_app
from opgraph_storage.records import StepAttemptStatus
from tests.fleet import jobs

CELERY = {"execution": {"config": {"celery": {}}}}


def test_the_most_urgent_queued_op_runs_first(celery_fleet, tmp_path):
    celery_fleet.stop_worker("w1")
    holder = {}
    thread = threading.Thread(
        target=lambda: holder.update(
            result=execute_job(
                reconstructable(jobs.prioritized), celery_fleet.instance, run_config=CELERY
            )
        )
    )
    try:
        thread.start()
        deadline = time.monotonic() + 20
        while (
            len(
                celery_fleet.instance.storage.get_step_attempts(statuses=[StepAttemptStatus.QUEUED])
            )
            < 10
        ):
            assert time.monotonic() < deadline, "steps were not all queued"
            time.sleep(0.05)
        celery_fleet.start_worker("prio", concurrency=1)
        thread.join(60)
    finally:
        if "prio" in celery_fleet.workers:
            celery_fleet.stop_worker("prio")
        celery_fleet.start_worker("w1")
    result = holder["result"]
    assert result.success
    attempts = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    first = min(attempts, key=lambda a: a.started_at)
    assert first.step_key == "urgent"
    assert {a.priority for a in attempts} == {0, 9}


@op
def remembered():
    return 1


@job(resource_defs={"io_manager": mem_io_manager})
def in_memory_job():
    remembered()


def test_an_in_memory_io_manager_is_refused(celery_fleet):
    result = execute_job(reconstructable(in_memory_job), celery_fleet.instance, run_config=CELERY)
    assert not result.success
    failure = result.all_events[-1]
    assert "keeps outputs in memory" in failure.message and "db_io_manager" in failure.message


@pytest.fixture
def cli(celery_fleet):
    return create_app(celery_fleet.instance).test_cli_runner()


def test_workers_list_queues_ping_and_drain(celery_fleet, cli):
    node = celery_fleet.node("w1")
    listed = cli.invoke(args=["workers", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    workers = {w["name"]: w for w in json.loads(listed.output)}
    assert workers[node]["queues"] == [celery_fleet.queue]
    assert workers[node]["concurrency"] == 2 and workers[node]["responding"]
    assert workers[node]["last_heartbeat"] is not None

    queues = cli.invoke(args=["workers", "queues", "--json"])
    by_name = {q["name"]: q for q in json.loads(queues.output)}
    assert node in by_name[celery_fleet.queue]["consumers"]
    assert by_name[celery_fleet.queue]["depth"] == 0

    pinged = cli.invoke(args=["workers", "ping"])
    assert pinged.exit_code == 0 and f"{node}: pong" in pinged.output

    bad = cli.invoke(args=["workers", "drain", "nohost"])
    assert bad.exit_code == 2 and "expected a worker node name" in bad.output
    drained = cli.invoke(args=["workers", "drain", node])
    assert drained.exit_code == 0 and celery_fleet.queue in drained.output
    try:
        after = json.loads(cli.invoke(args=["workers", "queues", "--json"]).output)
        consumers = {q["name"]: q["consumers"] for q in after}
        assert node not in consumers.get(celery_fleet.queue, [])
    finally:
        celery_fleet.stop_worker("w1")
        celery_fleet.start_worker("w1")
