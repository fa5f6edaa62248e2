"""What the Celery executor concludes when a broadcast goes unanswered: the workers'
heartbeats in (real PostgreSQL) storage say which ones are alive and what they consume."""

import time

import pytest

from opgraph_celery.fleet import BROKER_KEY, HEARTBEAT_PREFIX, SESSION_KEY
from opgraph_celery.live_workers import (
    LiveWorkers,
    counts_against_queued,
    counts_against_running,
    unanswered_consumers,
)
from opgraph_celery.lost_messages import FleetLook
from opgraph_celery.settings import broker_identity
from opgraph_storage import create_storage
from opgraph_storage.records import DaemonHeartbeat
from tests.waiting import wait_for

SILENT_AFTER = 11.0  # 2 x the default heartbeat interval + 1 s, as the executor uses


@pytest.fixture
def storage(pg_storage_url):
    created = create_storage(pg_storage_url)
    yield created
    created.dispose()


def beat(storage, node: str, queues: list[str], age: float, now: float) -> None:
    storage.add_daemon_heartbeat(
        DaemonHeartbeat(f"{HEARTBEAT_PREFIX}{node}", node, now - age, {"queues": queues})
    )


def look(asked=(), answered=(), held=None, started_at=100.0) -> FleetLook:
    return FleetLook(
        started_at=started_at,
        waiting={"q": set()},
        asked=frozenset(asked),
        answered=frozenset(answered),
        held={k: frozenset(v) for k, v in (held or {}).items()},
    )


def test_workers_beating_recently_are_alive_with_their_queues(storage):
    now = time.time()
    beat(storage, "fresh@h", ["q", "io"], age=2.0, now=now)
    beat(storage, "late@h", ["q"], age=SILENT_AFTER - 1, now=now)
    beat(storage, "dead@h", ["q"], age=SILENT_AFTER + 1, now=now)
    # A daemon part's heartbeat sits in the same table: it is no worker.
    storage.add_daemon_heartbeat(DaemonHeartbeat("SENSOR", "daemon-1", now, {"queues": ["q"]}))

    live = LiveWorkers.read(storage, now, SILENT_AFTER)

    assert dict(live.queues) == {
        "fresh@h": frozenset({"q", "io"}),
        "late@h": frozenset({"q"}),
    }
    assert live.consuming("io") == {"fresh@h"}
    assert live.consuming("q") == {"fresh@h", "late@h"}
    assert live.consuming("nobody") == frozenset()
    # A beat lists a queue without its RabbitMQ urgent lane, which goes with the queue.
    assert live.consuming("q.urgent") == {"fresh@h", "late@h"}
    assert live.consuming("nobody.urgent") == frozenset()


def test_a_queued_message_no_answering_worker_holds_counts_when_every_live_consumer_answered(
    storage,
):
    now = time.time()
    beat(storage, "a@h", ["q"], age=1.0, now=now)
    beat(storage, "b@h", ["io"], age=1.0, now=now)  # silent, but does not consume q
    beat(storage, "dead@h", ["q"], age=SILENT_AFTER + 5, now=now)  # silent, and gone
    live = LiveWorkers.read(storage, now, SILENT_AFTER)

    seen = look(asked={"m1"}, answered={"a@h"})

    assert unanswered_consumers(seen, live, "q") == frozenset()
    assert counts_against_queued(seen, live, "m1", "q")


def test_a_live_consumer_that_did_not_answer_may_hold_the_message(storage):
    """A starved worker answers late: its silence is no sign that the message is lost."""
    now = time.time()
    beat(storage, "a@h", ["q"], age=1.0, now=now)
    beat(storage, "starved@h", ["q"], age=4.0, now=now)
    live = LiveWorkers.read(storage, now, SILENT_AFTER)

    answered_by_one = look(asked={"m1"}, answered={"a@h"})
    answered_by_none = look(asked={"m1"})

    assert unanswered_consumers(answered_by_one, live, "q") == {"starved@h"}
    assert not counts_against_queued(answered_by_one, live, "m1", "q")
    assert not counts_against_queued(answered_by_none, live, "m1", "q")


def test_when_no_consumer_of_the_queue_is_alive_silence_counts(storage):
    now = time.time()
    beat(storage, "dead@h", ["q"], age=SILENT_AFTER + 1, now=now)
    live = LiveWorkers.read(storage, now, SILENT_AFTER)

    assert counts_against_queued(look(asked={"m1"}), live, "m1", "q")


def test_a_held_or_unasked_message_never_counts(storage):
    live = LiveWorkers.read(storage, time.time(), SILENT_AFTER)  # no worker at all

    assert not counts_against_queued(
        look(asked={"m1"}, answered={"a@h"}, held={"m1": {"a@h"}}), live, "m1", "q"
    )
    assert not counts_against_queued(look(asked={"other"}), live, "m1", "q")


def test_a_silent_running_attempt_counts_by_its_own_beat_whether_or_not_anyone_answered():
    before = 99.0  # its last beat, before the look began at 100
    for answered in (frozenset(), frozenset({"other@h"}), frozenset({"w@h"})):
        seen = look(asked={"r1"}, answered=answered)
        assert counts_against_running(seen, "r1", "w@h", last_beat=before)
        # A beat after the look began: it lives, whoever answered.
        assert not counts_against_running(seen, "r1", "w@h", last_beat=100.5)


def test_a_running_attempt_its_claimant_runs_never_counts():
    seen = look(asked={"r1"}, answered={"w@h"}, held={"r1": {"w@h"}})

    assert not counts_against_running(seen, "r1", "w@h", last_beat=0.0)
    # Held by another worker only (a copy the broker gave back): its claimant lost it.
    copy = look(asked={"r1"}, answered={"x@h"}, held={"r1": {"x@h"}})
    assert counts_against_running(copy, "r1", "w@h", last_beat=0.0)


def test_a_worker_one_beat_late_still_consumes_but_no_longer_holds_off_a_strike(storage):
    """The executor asks two things of the same heartbeats (interval 5 s): whether a queue
    has a consumer (two beats late + 1 s: 11 s), and whether a silent consumer may hold a
    message (no beat missed: 6 s). A killed worker's beat stops: after 6 s its silence
    counts, while its queue still counts as consumed for a few seconds more."""
    now = time.time()
    beat(storage, "killed@h", ["q"], age=7.0, now=now)
    beats = storage.get_daemon_heartbeats()

    consumers = LiveWorkers.from_heartbeats(beats, now, silent_after=11.0)
    holders = LiveWorkers.from_heartbeats(beats, now, silent_after=6.0)

    assert consumers.consuming("q") == {"killed@h"}
    assert counts_against_queued(look(asked={"m1"}), holders, "m1", "q")
    assert not counts_against_queued(look(asked={"m1"}), consumers, "m1", "q")


def test_a_worker_whose_database_session_closed_is_gone_at_once(storage):
    """A worker's beat names the session its main process holds (fleet.WorkerHeartbeat):
    the session ends with the process, so a killed worker counts as gone while its last
    beat is still fresh, and its silence strikes at the first look."""
    now = time.time()
    held, ended = storage.hold_session(), storage.hold_session()
    ended.close()
    try:
        for node, session in (("alive@h", held), ("killed@h", ended)):
            storage.add_daemon_heartbeat(
                DaemonHeartbeat(
                    f"{HEARTBEAT_PREFIX}{node}",
                    node,
                    now - 1.0,
                    {"queues": ["q"], SESSION_KEY: session.token},
                )
            )
        beat(storage, "older@h", ["q"], age=1.0, now=now)  # names no session: its age decides

        # The server ends the closed session within milliseconds.
        wait_for(
            lambda: "killed@h" not in LiveWorkers.read(storage, now, SILENT_AFTER).queues,
            "the closed session to end",
        )
        live = LiveWorkers.read(storage, now, SILENT_AFTER)
        assert set(live.queues) == {"alive@h", "older@h"}
        # Known dead, not merely late: one silent look is enough to give its message up.
        assert live.gone_consuming("q") == {"killed@h"}
        assert live.gone_consuming("q.urgent") == {"killed@h"}
        silent_killed = look(asked={"m1"}, answered={"alive@h", "older@h"})
        assert counts_against_queued(silent_killed, live, "m1", "q")
        # Heartbeats alone (a storage that cannot tell) keep it alive for its beats' grace.
        beats = storage.get_daemon_heartbeats()
        by_age = LiveWorkers.from_heartbeats(beats, now, SILENT_AFTER, open_sessions=None)
        assert "killed@h" in by_age.queues
        assert not counts_against_queued(silent_killed, by_age, "m1", "q")
    finally:
        held.close()


def test_a_worker_whose_session_the_server_ended_opens_a_new_one_and_beats_it(storage):
    """A database restart or a cut link ends a live worker's session: until its heartbeat
    names a new one, the worker counts as dead, so the heartbeat thread notices within a
    second and beats the new token at once, not at its next beat (interval 1 h here)."""
    from opgraph_celery.fleet import WorkerHeartbeat

    name = f"{HEARTBEAT_PREFIX}cut@h"
    heartbeat = WorkerHeartbeat(storage, "cut@h", {"queues": ["q"]}, interval_seconds=3600)
    heartbeat.start()
    try:

        def token() -> str | None:
            beat_now = storage.get_daemon_heartbeats().get(name)
            return beat_now.info.get(SESSION_KEY) if beat_now else None

        first = wait_for(token, "the first beat")
        assert storage.open_sessions([first]) == {first}
        with storage.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(first.split('@')[0])})")
        second = wait_for(
            lambda: token() not in (first, None) and token(), "a beat of a new session"
        )
        assert storage.open_sessions([first, second]) == {second}
        assert "cut@h" in LiveWorkers.read(storage, time.time(), SILENT_AFTER).queues
    finally:
        heartbeat.stop()


def test_a_worker_on_another_broker_does_not_consume_the_run_workers_queue(storage):
    """A run launched from a shell without the fleet's broker URL publishes elsewhere: the
    workers' beats name their broker, and only those on the run worker's count."""
    now = time.time()
    redis = broker_identity("redis://127.0.0.1:6379/0")
    amqp = broker_identity("amqp://guest:guest@127.0.0.1:5672//")
    for node, broker in (("rabbit@h", amqp), ("redis@h", redis)):
        storage.add_daemon_heartbeat(
            DaemonHeartbeat(
                f"{HEARTBEAT_PREFIX}{node}", node, now, {"queues": ["q"], BROKER_KEY: broker}
            )
        )
    beat(storage, "old@h", ["q"], age=1.0, now=now)  # names no broker: counts as the same

    live = LiveWorkers.read(storage, now, SILENT_AFTER)

    assert live.consuming("q") == {"rabbit@h", "redis@h", "old@h"}
    assert live.consuming_on("q", redis) == {"redis@h", "old@h"}
    assert live.consuming_on("q", amqp) == {"rabbit@h", "old@h"}
    assert live.brokers == {"rabbit@h": amqp, "redis@h": redis}


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "pyamqp://localhost//"),
        ("amqp://u:secret@rabbit/opgraph", "amqp://other:pw@rabbit:5672/opgraph"),
        ("redis://127.0.0.1:6379/0", "redis://localhost"),
        ("redis://:pw@redis:6380/2", "redis://redis:6380/2/"),
    ],
)
def test_spellings_of_one_broker_have_one_identity_without_credentials(one, other):
    assert broker_identity(one) == broker_identity(other)
    assert "secret" not in broker_identity(one) and "guest" not in broker_identity(one)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("amqp://rabbit//", "amqp://rabbit/opgraph"),  # another vhost
        ("redis://redis:6379/0", "redis://redis:6379/1"),  # another database
        ("redis://127.0.0.1:6379/0", "amqp://127.0.0.1:5672//"),
        ("redis://a:6379/0", "redis://b:6379/0"),
    ],
)
def test_different_brokers_have_different_identities(one, other):
    assert broker_identity(one) != broker_identity(other)
