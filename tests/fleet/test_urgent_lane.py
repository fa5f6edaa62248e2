"""A re-published attempt does not wait behind its queue's backlog (issue #14). Redis
serves it first by priority; RabbitMQ's quorum queues ignore priorities (3.x), so there it
goes to the queue's urgent lane, which every worker consuming the queue consumes too."""

import os
import threading
import time
import uuid

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

import pytest

from opgraph import execute_job, reconstructable
from opgraph_celery.fleet import queue_depths
from opgraph_celery.lost_messages import waiting_messages
from opgraph_storage.records import StepAttemptStatus
from tests.celery_fleet import BROKERS, make_fleet
from tests.fleet import jobs

CELERY = {"execution": {"config": {"celery": {}}}}


def wait_for(predicate, what, timeout=120.0):
    deadline = time.monotonic() + timeout  # a bound, far above what any step here takes
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _at_the_broker(fleet, node, attempt_id):
    """The attempt's message is waiting in its queue or its lane, or reserved by `node`."""
    if fleet.broker == "redis":
        return attempt_id in (waiting_messages(fleet.app, [fleet.queue])[fleet.queue] or set())
    reserved = fleet.app.control.inspect(destination=[node], timeout=1.0).reserved() or {}
    if attempt_id in {task["id"] for task in reserved.get(node, [])}:
        return True
    # Waiting: RabbitMQ counts a queue's messages but does not list them. The backlog
    # waits behind `held` (the killed attempt's message came back first and was dropped).
    return queue_depths(fleet.app, [fleet.queue])[fleet.queue] > jobs.BACKLOG


@pytest.mark.parametrize("broker", BROKERS)
def test_a_republished_attempt_runs_ahead_of_the_backlog(request, tmp_path, broker):
    home, markers = tmp_path / "home", tmp_path / "markers"
    home.mkdir()
    markers.mkdir()
    (markers / "hold").touch()
    with make_fleet(request, home, broker, worker=False) as fleet:
        fleet.start_worker("solo", concurrency=1)
        node = fleet.node("solo")
        storage = fleet.instance.storage
        holder = {}
        thread = threading.Thread(
            target=lambda: holder.update(
                result=execute_job(
                    reconstructable(jobs.retry_behind_backlog),
                    fleet.instance,
                    run_config=CELERY,
                    tags={"test/marker_dir": str(markers)},
                )
            )
        )
        thread.start()
        try:

            def republished():
                attempts = [a for a in storage.get_step_attempts() if a.step_key == "lost_once"]
                return attempts[1] if len(attempts) == 2 else None

            # `lost_once` died with its pool process; `held` holds the worker's only one.
            new = wait_for(republished, "lost_once's new attempt")
            assert new.status is StepAttemptStatus.QUEUED
            wait_for(lambda: _at_the_broker(fleet, node, new.attempt_id), "its message")
        finally:
            (markers / "hold").unlink()
            thread.join(180)
        result = holder["result"]
        assert result.success
        attempts = storage.get_step_attempts(run_id=result.run_id)
        claimed = sorted((a for a in attempts if a.started_at), key=lambda a: a.started_at)
        order = [a.step_key for a in claimed]
        # The new attempt ran as soon as `held` let the worker go, before any of the
        # backlog published long before it.
        assert order[:3] == ["lost_once", "held", "lost_once"], order
        assert [a.status for a in attempts if a.step_key == "lost_once"] == [
            StepAttemptStatus.LOST,
            StepAttemptStatus.SUCCESS,
        ]
        assert new.priority == 6  # above the default (on RabbitMQ: its queue's urgent lane)
