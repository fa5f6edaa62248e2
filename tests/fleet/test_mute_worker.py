"""A worker that never answers control broadcasts (Celery's remote control turned off:
what a starved or restarting worker looks like to `active_queues` and `query_task`) but
heartbeats in storage: its steps run once, neither failed for "no consumer" nor given up
and published again."""

import os
import uuid

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

import pytest
import yaml

from opgraph_celery.fleet import HEARTBEAT_PREFIX
from tests.celery_fleet import BROKERS
from tests.fleet import mute_jobs
from tests.fleet.test_fleet import run, wait_for

# The first step's message is taken and unclaimed this long (the second waits in the
# queue meanwhile): longer than the 3 s no-consumer timeout the fleet tests run with, and
# than the two looks at the fleet (a second or two each) that used to give it up.
IMPORT_SECONDS = 8.0
# The bound on a taken, unclaimed message, raised above the import: at load 15 here the
# claim came 4.5 s after a 4 s import.
UNCLAIMED_SECONDS = 60


@pytest.fixture
def mute_worker(celery_fleet, tmp_path, monkeypatch):
    """A worker on the mute queue, concurrency 1, whose remote control is off: its own
    OPGRAPH_HOME is the fleet's instance.yaml plus that Celery setting."""
    config = yaml.safe_load((celery_fleet.home / "instance.yaml").read_text())
    config["celery"]["config_source"] = {"worker_enable_remote_control": False}
    # It beats every second, well within the run worker's "missed no beat" (the fleet's
    # 5 s interval + 1 s), so that a loaded machine does not make it look dead.
    config["liveness"] = {"heartbeat_interval_seconds": 1}
    home = tmp_path / "mute_home"
    home.mkdir()
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("OPGRAPH_TEST_IMPORT_SECONDS", str(IMPORT_SECONDS))
    celery_fleet.local.start("mute", [mute_jobs.MUTE_QUEUE], concurrency=1, wait=False, home=home)
    monkeypatch.delenv("OPGRAPH_TEST_IMPORT_SECONDS")
    node = celery_fleet.node("mute")
    try:
        # It is ready once its main process heartbeats (a ping would get no answer).
        wait_for(
            lambda: (
                f"{HEARTBEAT_PREFIX}{node}" in celery_fleet.instance.storage.get_daemon_heartbeats()
            ),
            timeout=120,
            what="the mute worker's heartbeat",
        )
        yield node
    finally:
        celery_fleet.stop_worker("mute")


@pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)
def test_a_worker_that_does_not_answer_broadcasts_still_runs_its_steps_once(
    celery_fleet, mute_worker, tmp_path
):
    # The premise: the broadcast gets no answer from it, while the fleet's w1 answers.
    assert celery_fleet.app.control.ping(destination=[mute_worker], timeout=1.0) == []
    assert celery_fleet.app.control.ping(destination=[celery_fleet.node("w1")], timeout=5.0)

    result = run(
        celery_fleet,
        mute_jobs.two_on_the_mute_queue,
        tmp_path,
        celery={"lost_message_timeout_seconds": UNCLAIMED_SECONDS},
    )

    warnings = [
        e.message
        for e in result.all_events
        if e.event_type_value == "ENGINE_EVENT" and e.record.level == "WARNING"
    ]
    assert result.success, warnings
    assert not [w for w in warnings if "no Celery worker consumes" in w]
    attempts = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    # One attempt per step: none was given up and published again.
    assert sorted(a.step_key for a in attempts) == ["first", "second"]
    assert {a.hostname for a in attempts} == {mute_worker}
    assert {a.status.value for a in attempts} == {"SUCCESS"}
