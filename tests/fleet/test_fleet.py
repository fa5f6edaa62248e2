"""The Celery executor against real `celery worker` processes, PostgreSQL and Redis."""

import os
import signal
import threading
import time
import uuid
from collections import Counter

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

import pytest

from opgraph import execute_job, reconstructable
from opgraph.events import EventType
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import RunStatus, StepAttemptStatus
from tests.celery_fleet import BROKERS
from tests.fleet import jobs

CELERY = {"celery": {"heartbeat_timeout_seconds": 4, "no_consumer_timeout_seconds": 3}}


def run(fleet, job, tmp_path, tags=None, celery=None):
    config = {"execution": {"config": {"celery": {**CELERY["celery"], **(celery or {})}}}}
    return execute_job(
        reconstructable(job),
        fleet.instance,
        run_config=config,
        tags={"test/marker_dir": str(tmp_path), **(tags or {})},
    )


def run_in_thread(fleet, job, tmp_path, **kwargs):
    holder = {}
    thread = threading.Thread(
        target=lambda: holder.update(result=run(fleet, job, tmp_path, **kwargs))
    )
    thread.start()
    return thread, holder


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_attempt(fleet, step_key):
    for attempt in fleet.instance.storage.get_step_attempts(statuses=[StepAttemptStatus.RUNNING]):
        if attempt.step_key == step_key:
            return attempt
    return None


# The tests whose outcome rests on how the broker delivers run on both brokers.
on_both_brokers = pytest.mark.parametrize("celery_fleet", BROKERS, indirect=True)


def successes(result):
    return Counter(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")


@on_both_brokers
def test_fan_out_of_200_runs_every_op_once_over_two_workers(celery_fleet, tmp_path):
    celery_fleet.start_worker("w2")
    try:
        result = run(celery_fleet, jobs.fan_out_200, tmp_path)
    finally:
        celery_fleet.stop_worker("w2")
    assert result.success
    assert result.output_for_node("gather") == 200
    counts = successes(result)
    assert len(counts) == 202 and set(counts.values()) == {1}
    attempts = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    assert len(attempts) == 202
    assert {a.status for a in attempts} == {StepAttemptStatus.SUCCESS}
    assert {a.hostname for a in attempts} == {celery_fleet.node("w1"), celery_fleet.node("w2")}


@on_both_brokers
def test_a_killed_pool_process_mid_op_is_retried_and_succeeds_once(celery_fleet, tmp_path):
    thread, holder = run_in_thread(celery_fleet, jobs.long_job, tmp_path)
    attempt = wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op to run")
    wait_for(lambda: (tmp_path / "long_op.pid").exists(), what="the op's pid")
    os.kill(attempt.pid, signal.SIGKILL)
    thread.join(60)
    result = holder["result"]
    assert result.success, [e.message for e in result.all_events if e.record.level == "ERROR"]
    assert successes(result)["long_op"] == 1
    assert len((tmp_path / "long_op.runs").read_text().splitlines()) == 2  # ran again
    statuses = [
        a.status
        for a in celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
        if a.step_key == "long_op"
    ]
    assert statuses == [StepAttemptStatus.LOST, StepAttemptStatus.SUCCESS]
    retry = [e for e in result.all_events if e.record.data.get("infra_retry")]
    assert retry and "stopped heartbeating" in retry[0].message


@on_both_brokers
def test_a_killed_worker_does_not_lose_the_run(celery_fleet, tmp_path):
    celery_fleet.stop_worker("w1")
    victim = celery_fleet.start_worker("victim")
    try:
        thread, holder = run_in_thread(
            celery_fleet, jobs.long_job, tmp_path, tags={"test/sleep": "2"}
        )
        wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op to run")
        celery_fleet.start_worker("w1")
        victim.kill()  # the main process, SIGKILL: no chance to clean up
        thread.join(90)
        result = holder["result"]
        assert result.success
        assert successes(result) == Counter({"long_op": 1, "after": 1})
    finally:
        celery_fleet.workers.pop("victim", None)
        if "w1" not in celery_fleet.workers:
            celery_fleet.start_worker("w1")


def test_a_killed_worker_counts_as_gone_before_its_heartbeat_ages(celery_fleet):
    """A worker's heartbeat names the database session its main process holds; SIGKILL
    ends the session at once, so run workers stop waiting on it while its last beat is
    still fresh (within the 11 s it would otherwise take on the default beats)."""
    from opgraph_celery.fleet import HEARTBEAT_PREFIX, SESSION_KEY
    from opgraph_celery.live_workers import LiveWorkers

    storage = celery_fleet.instance.storage
    victim = celery_fleet.start_worker("victim")
    node = celery_fleet.node("victim")
    try:
        beat = wait_for(
            lambda: storage.get_daemon_heartbeats().get(f"{HEARTBEAT_PREFIX}{node}"),
            what="the worker's first heartbeat",
        )
        token = beat.info[SESSION_KEY]
        assert storage.open_sessions([token]) == {token}
        assert node in LiveWorkers.read(storage, time.time(), silent_after=3600).queues
        for pid in celery_fleet.local.pids("victim"):  # the whole worker, pool and all
            os.kill(pid, signal.SIGKILL)
        victim.wait()
        wait_for(
            lambda: node not in LiveWorkers.read(storage, time.time(), silent_after=3600).queues,
            what="the killed worker to count as gone",
        )
        assert (
            storage.get_daemon_heartbeats()[f"{HEARTBEAT_PREFIX}{node}"].info[SESSION_KEY] == token
        )
    finally:
        celery_fleet.workers.pop("victim", None)


def test_a_worker_started_mid_run_takes_steps(celery_fleet, tmp_path):
    # The ops hold until the late worker has taken one: w1 (concurrency 2) holds two, the
    # other six wait in the queue, however long the late worker takes to start.
    (tmp_path / "hold").touch()
    thread, holder = run_in_thread(celery_fleet, jobs.held_naps, tmp_path)
    late = celery_fleet.node("late")
    try:
        wait_for(
            lambda: any(
                a.step_key.startswith("held_nap")
                for a in celery_fleet.instance.storage.get_step_attempts(
                    statuses=[StepAttemptStatus.RUNNING]
                )
            ),
            60,
            what="held naps",
        )
        celery_fleet.start_worker("late")
        try:
            wait_for(
                lambda: any(
                    a.hostname == late
                    for a in celery_fleet.instance.storage.get_step_attempts(
                        statuses=[StepAttemptStatus.RUNNING]
                    )
                ),
                120,
                what="the late worker to take a step",
            )
        finally:
            (tmp_path / "hold").unlink(missing_ok=True)
            thread.join(120)
    finally:
        celery_fleet.stop_worker("late")
    result = holder["result"]
    assert result.success
    hosts = {
        a.hostname for a in celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    }
    assert {late, celery_fleet.node("w1")} <= hosts


def test_a_drained_worker_finishes_its_op_and_takes_no_more(celery_fleet, tmp_path):
    from opgraph_celery.fleet import drain

    celery_fleet.start_worker("w2")
    try:
        thread, holder = run_in_thread(celery_fleet, jobs.naps, tmp_path)
        wait_for(
            lambda: (
                running_attempt(celery_fleet, "nap_0") or running_attempt(celery_fleet, "nap_1")
            ),
            what="naps",
        )
        drained_at = time.time()
        assert drain(celery_fleet.app, celery_fleet.node("w1")) == [celery_fleet.queue]
        thread.join(60)
    finally:
        celery_fleet.stop_worker("w2")
        celery_fleet.stop_worker("w1")
        celery_fleet.start_worker("w1")
    result = holder["result"]
    assert result.success
    attempts = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    late_on_w1 = [
        a
        for a in attempts
        if a.hostname == celery_fleet.node("w1") and a.started_at > drained_at + 0.5
    ]
    assert late_on_w1 == []
    assert all(a.status is StepAttemptStatus.SUCCESS for a in attempts)


def test_ops_are_routed_by_their_queue_tag(celery_fleet, tmp_path):
    celery_fleet.start_worker("io", queues=[jobs.IO_QUEUE], concurrency=1)
    try:
        result = run(celery_fleet, jobs.routed, tmp_path)
    finally:
        celery_fleet.stop_worker("io")
    assert result.success
    [attempt] = celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    assert attempt.queue == jobs.IO_QUEUE and attempt.hostname == celery_fleet.node("io")


def test_a_queue_nobody_consumes_warns_then_fails_the_step(celery_fleet, tmp_path):
    result = run(celery_fleet, jobs.stranded, tmp_path)
    assert not result.success
    # Failed by the 3 s no-consumer check (its message says so below), not left waiting
    # for a worker (600 s).
    warning = next(
        e
        for e in result.all_events
        if e.event_type_value == "ENGINE_EVENT" and e.record.level == "WARNING"
    )
    assert (
        jobs.NOBODY_QUEUE in warning.message
        and "celery -A opgraph_celery worker -Q" in warning.message
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no worker consumes" in failure.message


@pytest.mark.parametrize("celery_fleet", ["rabbitmq"], indirect=True)
def test_a_run_worker_on_another_broker_than_the_fleet_is_told_so(
    celery_fleet, tmp_path, redis_url
):
    """A run launched from a shell that lacks the fleet's broker URL (`opgraph dev
    --broker rabbitmq`, then `opgraph runs launch` elsewhere) publishes to the default
    Redis, where no worker consumes: its warning names the workers and their broker, and
    the step fails after the no-consumer timeout instead of waiting for ever."""
    import redis

    try:
        result = run(celery_fleet, jobs.naps, tmp_path, celery={"broker_url": redis_url})
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{celery_fleet.queue}*"):
            client.delete(key)
        client.close()
    assert not result.success
    warning = next(
        e
        for e in result.all_events
        if e.event_type_value == "ENGINE_EVENT" and e.record.level == "WARNING"
    )
    assert celery_fleet.node("w1") in warning.message
    assert "amqp://localhost:5672/" in warning.message
    assert "OPGRAPH_CELERY_BROKER_URL" in warning.message
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no worker consumes" in failure.message


def test_an_op_past_its_timeout_fails_saying_so(celery_fleet, tmp_path):
    result = run(celery_fleet, jobs.timing_out, tmp_path)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "timed out after 1s" in failure.message


def test_cancel_stops_the_running_op_process(celery_fleet, tmp_path):
    thread, holder = run_in_thread(celery_fleet, jobs.long_job, tmp_path, tags={"test/sleep": "60"})
    attempt = wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op to run")
    wait_for(lambda: (tmp_path / "long_op.pid").exists(), what="the op's pid")
    pid = int((tmp_path / "long_op.pid").read_text())
    storage = celery_fleet.instance.storage
    assert append_lifecycle_event(storage, attempt.run_id, EventType.RUN_CANCELING, "test cancels")
    thread.join(60)
    result = holder["result"]
    assert storage.get_run(result.run_id).status is RunStatus.CANCELED

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=10, what="the op's process to stop")
    [final] = storage.get_step_attempts(run_id=result.run_id)
    assert final.status is StepAttemptStatus.CANCELED


def test_a_worker_stopped_with_sigterm_finishes_its_op_first(celery_fleet, tmp_path):
    celery_fleet.stop_worker("w1")
    celery_fleet.start_worker("leaving", concurrency=1)
    try:
        thread, holder = run_in_thread(
            celery_fleet, jobs.long_job, tmp_path, tags={"test/sleep": "2"}
        )
        attempt = wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op to run")
        leaving = celery_fleet.workers["leaving"]
        leaving.send_signal(signal.SIGTERM)
        celery_fleet.start_worker("w1")  # takes what comes after
        assert leaving.wait(30) == 0
        thread.join(60)
    finally:
        celery_fleet.workers.pop("leaving", None)
        if "w1" not in celery_fleet.workers:
            celery_fleet.start_worker("w1")
    result = holder["result"]
    assert result.success
    attempts = {
        a.step_key: a for a in celery_fleet.instance.storage.get_step_attempts(run_id=result.run_id)
    }
    assert attempts["long_op"].attempt_id == attempt.attempt_id  # finished where it started
    assert attempts["long_op"].status is StepAttemptStatus.SUCCESS
    assert attempts["after"].hostname == celery_fleet.node("w1")


def test_a_run_on_the_fleet_survives_the_database_dropping_every_connection(celery_fleet, tmp_path):
    import sqlalchemy as sa

    from opgraph_storage import normalize_url

    thread, holder = run_in_thread(celery_fleet, jobs.naps, tmp_path)
    wait_for(lambda: running_attempt(celery_fleet, "nap_0"), what="nap_0 to run")
    admin = sa.create_engine(normalize_url(celery_fleet.storage_url), isolation_level="AUTOCOMMIT")
    try:
        # As on a database restart or failover: the workers', the run's and our own.
        with admin.connect() as conn:
            dropped = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        admin.dispose()
    assert dropped >= 2
    thread.join(90)
    result = holder["result"]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    counts = successes(result)
    assert len(counts) == 10 and set(counts.values()) == {1}  # every op once, no event lost


@on_both_brokers
def test_a_run_waits_out_a_broker_outage(celery_fleet, tmp_path):
    from urllib.parse import urlsplit, urlunsplit

    from tests.tcp_proxy import TcpProxy

    broker = urlsplit(celery_fleet.broker_url)
    redis_port = broker.port or (6379 if celery_fleet.broker == "redis" else 5672)
    proxies = [TcpProxy("127.0.0.1", 0, target_port=redis_port)]
    proxies[0].start()
    port = proxies[0].port
    # The run worker publishes through the proxy; the workers consume directly.
    user = broker.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    through_proxy = urlunsplit(broker._replace(netloc=netloc))
    try:
        thread, holder = run_in_thread(
            celery_fleet,
            jobs.long_job,
            tmp_path,
            tags={"test/sleep": "1"},
            celery={"broker_url": through_proxy},
        )
        wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op to run")
        proxies[0].cut()  # the broker is away while long_op ends and `after` is published
        time.sleep(3)
        assert thread.is_alive()  # waiting for the broker, not failed
        proxies.append(TcpProxy("127.0.0.1", port, target_port=redis_port))
        proxies[-1].start()
        thread.join(60)
        result = holder["result"]
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        assert successes(result) == Counter({"long_op": 1, "after": 1})
    finally:
        for proxy in proxies:
            proxy.stop()


def test_a_resumed_run_worker_follows_the_attempts_its_predecessor_dispatched(
    celery_fleet, tmp_path
):
    """The run worker dies while a worker runs its step: the resumed one adopts that
    attempt instead of publishing the step again, so the op runs once."""
    from opgraph.ports import RUN_WORKER_PID_TAG
    from opgraph.run_worker import run_worker

    celery_fleet.start_worker("adopt")
    instance = celery_fleet.instance
    try:
        run = jobs.submit_resumable(instance, tmp_path, CELERY)
        held = wait_for(lambda: running_attempt(celery_fleet, "held_while_marker"), 30, "held op")
        os.kill(int(instance.get_run(run.run_id).tags[RUN_WORKER_PID_TAG]), signal.SIGKILL)
        # The op ends 1.5 s into the resumed run worker, which is following it by then.
        release = threading.Timer(1.5, (tmp_path / "hold").unlink)
        release.start()
        assert run_worker(run.run_id, instance, resume=True) is RunStatus.SUCCESS
        assert jobs.runs_of(tmp_path, "counted_first") == 1
        assert jobs.runs_of(tmp_path, "held_while_marker") == 1  # adopted, not published again
        events = instance.storage.get_events(run.run_id, event_types=["STEP_SUCCESS"])
        assert Counter(e.step_key for e in events) == {"counted_first": 1, "held_while_marker": 1}
        attempts = instance.storage.get_step_attempts(run.run_id)
        assert [a.attempt_id for a in attempts if a.step_key == "held_while_marker"] == [
            held.attempt_id
        ]
    finally:
        celery_fleet.stop_worker("adopt")


def test_a_long_step_shows_its_start_while_it_runs(celery_fleet, tmp_path):
    """A step's start is written with its outcome only when the step is short; a long
    one shows it (with the worker running it) within a fraction of a second."""
    celery_fleet.start_worker("starts")
    try:
        thread, holder = run_in_thread(celery_fleet, jobs.long_job, tmp_path)
        attempt = wait_for(lambda: running_attempt(celery_fleet, "long_op"), what="long_op")
        storage = celery_fleet.instance.storage

        def start_event():
            events = storage.get_events(attempt.run_id, event_types=["STEP_START"])
            return [e for e in events if e.step_key == "long_op"]

        (start,) = wait_for(start_event, timeout=1.0, what="long_op's STEP_START")
        assert running_attempt(celery_fleet, "long_op") is not None  # still running
        assert start.data["worker"] == attempt.hostname
        assert start.data["pid"] == attempt.pid
        thread.join(60)
        assert holder["result"].success
        assert successes(holder["result"]) == Counter({"long_op": 1, "after": 1})
    finally:
        celery_fleet.stop_worker("starts")


def test_a_message_the_broker_lost_is_published_again(celery_fleet, tmp_path):
    """Redis drops a message a worker popped but never received (its link died): the
    attempt, queued on a consumed queue, is found missing and published again."""
    import json

    import redis

    from opgraph_celery.settings import redis_queue_keys

    client = redis.Redis.from_url(celery_fleet.broker_url)
    storage = celery_fleet.instance.storage
    queue = f"{celery_fleet.queue}-lost"  # w1 does not consume it
    try:
        thread, holder = run_in_thread(
            celery_fleet,
            jobs.long_and_quick,
            tmp_path,
            tags={"test/sleep": "6"},
            celery={
                "default_queue": queue,
                "lost_message_timeout_seconds": 2,
                "no_consumer_timeout_seconds": 60,
            },
        )
        # No worker yet: both messages wait in the queue. Lose whoami's.
        waiting = wait_for(
            lambda: [a for a in storage.get_step_attempts() if a.step_key == "whoami"],
            what="whoami to be published",
        )[0]

        def waiting_message():
            return [
                (key, raw)
                for key in redis_queue_keys(queue)
                for raw in client.lrange(key, 0, -1)
                if json.loads(raw)["headers"]["id"] == waiting.attempt_id
            ]

        [(key, message)] = wait_for(waiting_message, what="whoami's message")
        assert client.lrem(key, 1, message) == 1
        celery_fleet.start_worker("lone", queues=[queue], concurrency=1)
        thread.join(60)
        result = holder["result"]
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        assert successes(result) == Counter({"long_op": 1, "whoami": 1})
        attempts = {a.attempt_id: a for a in storage.get_step_attempts(result.run_id)}
        assert attempts[waiting.attempt_id].status is StepAttemptStatus.LOST
        assert "broker lost the message" in (attempts[waiting.attempt_id].reason or "")
        whoami_attempts = [a for a in attempts.values() if a.step_key == "whoami"]
        assert len(whoami_attempts) == 2
        # Published again while long_op still ran (6 s), not after the run gave up.
        retried = max(whoami_attempts, key=lambda a: a.queued_at)
        long_op = next(a for a in attempts.values() if a.step_key == "long_op")
        assert retried.queued_at < long_op.ended_at
    finally:
        client.close()
        celery_fleet.stop_worker("lone")
