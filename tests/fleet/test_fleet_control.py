"""Priorities, the in-memory IO manager refusal, and the `opgraph workers` commands."""

import json
import threading
import time

import pytest

from opgraph import execute_job, job, mem_io_manager, op, reconstructable
from opgraph_app import create_app
from opgraph_storage.records import StepAttemptStatus
from tests.celery_fleet import BROKERS, make_fleet
from tests.fleet import jobs

CELERY = {"execution": {"config": {"celery": {}}}}


# The fleet each broker needs for ten priority levels. RabbitMQ's default quorum queues
# take no x-max-priority (3.x ignores their messages' priority, 4.x has two levels), so
# there the test uses what docs/scaling.md tells a deployment that needs priorities to
# set: classic queues with x-max-priority 9.
PRIORITY_CONFIG = {
    "redis": {},
    "rabbitmq": {
        "celery": {
            "config_source": {
                "task_default_queue_type": "classic",
                "task_create_missing_queue_type": "classic",
                "task_queue_max_priority": 9,
            }
        }
    },
}


@pytest.mark.parametrize("broker", BROKERS)
def test_the_most_urgent_queued_op_runs_first(request, tmp_path, broker):
    home = tmp_path / "home"
    home.mkdir()
    with make_fleet(request, home, broker, False, PRIORITY_CONFIG[broker]) as fleet:
        holder = {}
        thread = threading.Thread(
            target=lambda: holder.update(
                result=execute_job(
                    reconstructable(jobs.prioritized), fleet.instance, run_config=CELERY
                )
            )
        )
        thread.start()
        deadline = time.monotonic() + 20
        # All ten published before any worker takes one.
        while (
            len(fleet.instance.storage.get_step_attempts(statuses=[StepAttemptStatus.QUEUED])) < 10
        ):
            assert time.monotonic() < deadline, "steps were not all queued"
            time.sleep(0.05)
        fleet.start_worker("prio", concurrency=1)
        thread.join(60)
        result = holder["result"]
        assert result.success
        attempts = fleet.instance.storage.get_step_attempts(run_id=result.run_id)
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


def _wait_for_beat_without(celery_fleet, node: str, queue: str) -> None:
    from opgraph_celery.fleet import HEARTBEAT_PREFIX

    storage = celery_fleet.instance.storage
    deadline = time.monotonic() + 60  # a bound on the wait, far above a beat's interval
    beat = None
    while time.monotonic() < deadline:
        beat = storage.get_daemon_heartbeats().get(f"{HEARTBEAT_PREFIX}{node}")
        if beat is not None and queue not in beat.info.get("queues", []):
            return
        time.sleep(0.2)  # polling storage for the next beat, not waiting for time to pass
    raise AssertionError(f"{node}'s heartbeat still lists {queue}: {beat}")


def test_workers_list_leaves_out_workers_long_silent_unless_asked_for_all(celery_fleet, cli):
    """A fleet scaled up and down leaves a heartbeat row per worker it ever had: the list
    shows the live ones and those silent for under 10 minutes, --all every one."""
    from opgraph_celery.fleet import HEARTBEAT_PREFIX, SILENT_LISTED
    from opgraph_storage.records import DaemonHeartbeat

    now = time.time()
    for node, age in (("gone-long-ago@h", SILENT_LISTED + 60), ("just-died@h", 30.0)):
        celery_fleet.instance.storage.add_daemon_heartbeat(
            DaemonHeartbeat(f"{HEARTBEAT_PREFIX}{node}", node, now - age, {"queues": ["q"]})
        )

    def listed(*extra: str) -> dict:
        result = cli.invoke(args=["workers", "list", "--json", *extra])
        assert result.exit_code == 0, result.output
        return {w["name"]: w for w in json.loads(result.output)}

    recent = listed()
    assert celery_fleet.node("w1") in recent and recent[celery_fleet.node("w1")]["responding"]
    assert "just-died@h" in recent and not recent["just-died@h"]["responding"]
    assert "gone-long-ago@h" not in recent
    assert {"gone-long-ago@h", "just-died@h", celery_fleet.node("w1")} <= set(listed("--all"))


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
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

    # On RabbitMQ the worker consumes the queue's urgent lane too (listed with the queue).
    consumed = celery_fleet.app.control.inspect(destination=[node], timeout=5).active_queues()
    lanes = [f"{celery_fleet.queue}.urgent"] if celery_fleet.broker == "rabbitmq" else []
    assert sorted(q["name"] for q in consumed[node]) == sorted([celery_fleet.queue, *lanes])

    bad = cli.invoke(args=["workers", "drain", "nohost"])
    assert bad.exit_code == 2 and "expected a worker node name" in bad.output
    drained = cli.invoke(args=["workers", "drain", node])
    assert drained.exit_code == 0 and celery_fleet.queue in drained.output
    try:
        after = json.loads(cli.invoke(args=["workers", "queues", "--json"]).output)
        consumers = {q["name"]: q["consumers"] for q in after}
        assert node not in consumers.get(celery_fleet.queue, [])
        # The lane is drained with its queue.
        left = celery_fleet.app.control.inspect(destination=[node], timeout=5).active_queues()
        assert left == {node: []}
        # Its heartbeat stops listing the queue too (the executor counts a queue as
        # consumed by the workers whose beat lists it): the next beat after the drain.
        _wait_for_beat_without(celery_fleet, node, celery_fleet.queue)
    finally:
        celery_fleet.stop_worker("w1")
        celery_fleet.start_worker("w1")


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
def test_queue_depth_counts_waiting_messages_for_the_cli_and_metrics(celery_fleet):
    """What the autoscaler reads: messages waiting on a queue nobody consumes."""
    from opgraph_celery.fleet import queue_depths
    from opgraph_celery.metrics import CeleryMetrics

    queue = f"{celery_fleet.queue}-depth"
    for n in range(3):
        celery_fleet.app.send_task("opgraph.not_a_task", args=[n], queue=queue)
    if celery_fleet.broker == "rabbitmq":  # its urgent lane's messages count with it
        celery_fleet.app.send_task("opgraph.not_a_task", args=[3], queue=f"{queue}.urgent")
    expected = 4 if celery_fleet.broker == "rabbitmq" else 3
    assert queue_depths(celery_fleet.app, [queue, f"{queue}-never-declared"]) == {
        queue: expected,
        f"{queue}-never-declared": 0,
    }
    metrics = CeleryMetrics(celery_fleet.instance)
    gauges = {m.name: m for m in metrics._queue_metrics({queue: 0})}
    assert [(s.labels, s.value) for s in gauges["opgraph_celery_queue_depth"].samples] == [
        ({"queue": queue}, expected)
    ]
    assert gauges["opgraph_broker_up"].samples[0].value == 1


@pytest.mark.parametrize("celery_fleet", ["rabbitmq"], indirect=True)
def test_rabbitmq_step_queues_are_quorum_queues(celery_fleet):
    """Replicated, durable queues by default (docs/scaling.md, "Brokers")."""
    import subprocess
    from urllib.parse import urlsplit

    vhost = urlsplit(celery_fleet.broker_url).path[1:] or "/"
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "durable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    queues = dict(line.split("\t", 1) for line in listed.splitlines() if "\t" in line)
    assert queues[celery_fleet.queue].split("\t") == ["quorum", "true"], listed
    # Its urgent lane too, declared by the worker that consumes it.
    assert queues[f"{celery_fleet.queue}.urgent"].split("\t") == ["quorum", "true"], listed
