"""The storage contract: every test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import sqlite3
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from opgraph_storage import (
    DaemonHeartbeat,
    DuplicateRunKey,
    DuplicateTickKey,
    EventRecord,
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    LifecycleEventError,
    RunAlreadyExists,
    RunEventOutcome,
    RunRecord,
    RunsFilter,
    RunStatus,
    SchemaOutOfDate,
    StepAttempt,
    StepAttemptStatus,
    Storage,
    StorageUnreachable,
    TickRecord,
    TickStatus,
    create_storage,
    migrate,
)
from opgraph_storage.engine import set_connect_patience
from opgraph_storage.migration import head_revision
from opgraph_storage.urls import normalize_url

S = RunStatus


def event(run_id: str, event_type: str, **kwargs: Any) -> EventRecord:
    return EventRecord(run_id=run_id, event_type=event_type, timestamp=time.time(), **kwargs)


def add_run(storage: Storage, run_id: str, **kwargs: Any) -> RunRecord:
    return storage.add_run(
        RunRecord(run_id=run_id, job_name=kwargs.pop("job_name", "etl"), **kwargs)
    )


def run_of(storage: Storage, run_id: str) -> RunRecord:
    run = storage.get_run(run_id)
    assert run is not None, f"run {run_id} not found"
    return run


def status_of(storage: Storage, run_id: str) -> RunStatus:
    return run_of(storage, run_id).status


# -- runs -------------------------------------------------------------------------------------
def test_add_and_get_run_round_trips_every_field(storage: Storage) -> None:
    run = RunRecord(
        run_id="r1",
        job_name="etl",
        status=S.QUEUED,
        run_config={"ops": {"load": {"config": {"rows": 3, "ratio": 0.5}}}, "note": "héllo"},
        tags={"team": "data", "opgraph/priority": "5"},
        parent_run_id="r0",
        root_run_id="r0",
        code_pointer={"python_file": "/abs/jobs.py", "attribute": "etl"},
        location_name="jobs",
        code_version="v3",
        run_key="nightly@2026-01-01",
        snapshot_id="snap1",
        created_at=1700000000.123456,
        started_at=1700000001.5,
        worker_heartbeat_at=1700000002.25,
    )
    added = storage.add_run(run)
    assert added.created_at == run.created_at  # kept when given
    assert added.updated_at > 0
    assert storage.get_run("r1") == added
    assert storage.get_run("missing") is None
    assert storage.get_run_status("r1") is S.QUEUED
    assert storage.get_run_status("missing") is None


def test_add_run_fills_in_created_at(storage: Storage) -> None:
    before = time.time()
    added = add_run(storage, "r1")
    assert before <= added.created_at <= time.time()
    assert storage.get_run("r1") == added


def test_duplicate_run_id_is_refused(storage: Storage) -> None:
    add_run(storage, "r1", job_name="first")
    with pytest.raises(RunAlreadyExists, match="r1"):
        add_run(storage, "r1", job_name="second")
    run = run_of(storage, "r1")
    assert run is not None and run.job_name == "first"
    assert storage.get_runs_count() == 1


def test_run_key_is_unique_but_optional(storage: Storage) -> None:
    add_run(storage, "r1", run_key="nightly@1")
    with pytest.raises(DuplicateRunKey, match="nightly@1"):
        add_run(storage, "r2", run_key="nightly@1", tags={"a": "b"})
    assert storage.get_run("r2") is None
    assert storage.get_runs(RunsFilter(tags={"a": "b"})) == []  # no half-written run
    add_run(storage, "r3", run_key="nightly@2")
    add_run(storage, "r4")  # runs without a key never clash
    add_run(storage, "r5")
    assert storage.get_runs_count() == 4


def test_tags_are_returned_and_all_must_match(storage: Storage) -> None:
    add_run(storage, "a", tags={"team": "data", "env": "prod"})
    add_run(storage, "b", tags={"team": "data", "env": "dev"})
    add_run(storage, "c", tags={"team": "web", "env": "prod"})
    add_run(storage, "d")

    def ids(tags: dict[str, str]) -> list[str]:
        return [run.run_id for run in storage.get_runs(RunsFilter(tags=tags))]

    assert ids({"team": "data"}) == ["b", "a"]
    assert ids({"team": "data", "env": "prod"}) == ["a"]
    assert ids({"team": "web", "env": "dev"}) == []
    assert ids({"missing": "x"}) == []
    runs = {run.run_id: run for run in storage.get_runs()}
    assert runs["a"].tags == {"team": "data", "env": "prod"}
    assert runs["d"].tags == {}

    storage.add_run_tags("a", {"env": "staging", "owner": "ann"})
    assert run_of(storage, "a").tags == {"team": "data", "env": "staging", "owner": "ann"}
    assert ids({"env": "prod"}) == ["c"]
    storage.add_run_tags("nope", {"x": "y"})  # unknown run: nothing stored
    assert ids({"x": "y"}) == []


def test_pagination_with_cursor_is_newest_first(storage: Storage) -> None:
    created = [add_run(storage, f"r{i:02d}").run_id for i in range(25)]
    newest_first = created[::-1]
    pages, cursor = [], None
    while True:
        page = storage.get_runs(cursor=cursor, limit=10)
        if not page:
            break
        pages.append([run.run_id for run in page])
        cursor = page[-1].run_id
    assert [len(page) for page in pages] == [10, 10, 5]
    assert list(itertools.chain(*pages)) == newest_first
    assert [run.run_id for run in storage.get_runs(cursor="r05")] == newest_first[20:]


def test_filters_and_counts(storage: Storage) -> None:
    add_run(storage, "a", job_name="etl", status=S.SUCCESS, created_at=100.0)
    add_run(storage, "b", job_name="etl", status=S.FAILURE, created_at=200.0)
    add_run(storage, "c", job_name="report", status=S.SUCCESS, created_at=300.0)
    add_run(storage, "d", job_name="etl", status=S.QUEUED, created_at=400.0)

    cases = [
        (RunsFilter(job_name="etl"), ["d", "b", "a"]),
        (RunsFilter(statuses=[S.SUCCESS]), ["c", "a"]),
        (RunsFilter(statuses=[S.SUCCESS, S.QUEUED], job_name="etl"), ["d", "a"]),
        (RunsFilter(run_ids=["a", "c", "zz"]), ["c", "a"]),
        (RunsFilter(created_after=100.0, created_before=400.0), ["c", "b"]),
        (RunsFilter(statuses=[]), []),
        (None, ["d", "c", "b", "a"]),
    ]
    for filters, expected in cases:
        assert [run.run_id for run in storage.get_runs(filters)] == expected, filters
        assert storage.get_runs_count(filters) == len(expected), filters
    assert [run.run_id for run in storage.get_runs(RunsFilter(job_name="etl"), limit=2)] == [
        "d",
        "b",
    ]


def append(
    storage: Storage,
    run_id: str,
    event_type: str,
    to_status: RunStatus | None,
    from_statuses: Any,
    timestamp: float | None = None,
) -> RunEventOutcome:
    """Storage's one status-moving write; the refusal names the event and the status."""
    lifecycle = EventRecord(run_id, event_type, time.time() if timestamp is None else timestamp)

    def refusal(status: RunStatus) -> EventRecord:
        return event(run_id, "ENGINE_EVENT", message=f"{event_type} refused: run is {status.value}")

    return storage.append_run_event(lifecycle, to_status, from_statuses, refusal)


def test_append_run_event_is_compare_and_set(storage: Storage) -> None:
    add_run(storage, "r1", status=S.QUEUED)
    moved = append(storage, "r1", "RUN_STARTING", S.STARTING, [S.QUEUED])
    assert moved.moved is True and moved.status is S.STARTING and moved.storage_id is not None
    again = append(storage, "r1", "RUN_STARTING", S.STARTING, [S.QUEUED])
    assert again.moved is False and again.status is S.STARTING
    assert status_of(storage, "r1") is S.STARTING
    started = append(storage, "r1", "RUN_START", S.STARTED, [S.STARTING], timestamp=1800000000.5)
    assert started.moved
    run = run_of(storage, "r1")
    assert run.started_at == 1800000000.5 and run.ended_at is None
    done = append(storage, "r1", "RUN_SUCCESS", S.SUCCESS, [S.STARTED], timestamp=1800000009.25)
    assert done.moved
    run = run_of(storage, "r1")
    assert run.status is S.SUCCESS and run.ended_at == 1800000009.25
    assert run.started_at == 1800000000.5
    assert [e.event_type for e in storage.get_events("r1")] == [
        "RUN_STARTING",
        "ENGINE_EVENT",
        "RUN_START",
        "RUN_SUCCESS",
    ]
    assert [e.storage_id for e in storage.get_events("r1")][2:] == [
        started.storage_id,
        done.storage_id,
    ]


def test_a_refused_lifecycle_event_is_not_stored_but_recorded_as_an_engine_event(
    storage: Storage,
) -> None:
    add_run(storage, "r1", status=S.STARTED)
    assert append(storage, "r1", "RUN_CANCELED", S.CANCELED, [S.STARTED]).moved
    refused = append(storage, "r1", "RUN_SUCCESS", S.SUCCESS, [S.STARTED, S.CANCELING])
    assert refused.moved is False and refused.status is S.CANCELED
    assert status_of(storage, "r1") is S.CANCELED
    stored = storage.get_events("r1")
    assert [e.event_type for e in stored] == ["RUN_CANCELED", "ENGINE_EVENT"]
    assert stored[1].message == "RUN_SUCCESS refused: run is CANCELED"
    assert stored[1].storage_id == refused.storage_id
    # A caller may ask for no refusal record (a first try that a second one follows).
    quiet = storage.append_run_event(
        event("r1", "RUN_CANCELING"), S.CANCELING, [S.STARTED], lambda _status: None
    )
    assert quiet == RunEventOutcome(False, S.CANCELED, None)
    assert len(storage.get_events("r1")) == 2
    # A run that does not exist gets nothing, not even the refusal.
    missing = append(storage, "missing", "RUN_START", S.STARTED, [S.NOT_STARTED])
    assert missing == RunEventOutcome(False, None, None)
    assert storage.get_events("missing") == []


def test_append_run_event_without_a_move_only_checks_the_status(storage: Storage) -> None:
    add_run(storage, "r1", status=S.STARTED)
    before = run_of(storage, "r1")
    checked = append(storage, "r1", "ENGINE_EVENT", None, [S.STARTED])
    assert checked.moved is True and checked.status is S.STARTED
    assert run_of(storage, "r1").started_at == before.started_at
    assert append(storage, "r1", "RUN_FAILURE", S.FAILURE, [S.STARTED]).moved
    assert append(storage, "r1", "ENGINE_EVENT", None, [S.STARTED]).moved is False
    assert [e.event_type for e in storage.get_events("r1")] == [
        "ENGINE_EVENT",
        "RUN_FAILURE",
        "ENGINE_EVENT",
    ]


def test_store_events_refuses_lifecycle_events(storage: Storage) -> None:
    add_run(storage, "r1")
    with pytest.raises(LifecycleEventError, match=r"RUN_SUCCESS of run r1.*append_run_event"):
        storage.store_events([event("r1", "LOG"), event("r1", "RUN_SUCCESS")])
    assert storage.get_events("r1") == []  # nothing of the batch
    assert status_of(storage, "r1") is S.NOT_STARTED
    # Nor with a step's outcome: the attempt stays RUNNING, nothing is stored.
    storage.add_step_attempts([StepAttempt("a1", "r1", "s", 1, queued_at=1.0)])
    assert storage.claim_step_attempt("a1", "w@h", 1, 2.0)
    with pytest.raises(LifecycleEventError, match="given to complete_step_attempt"):
        storage.complete_step_attempt(
            "a1", StepAttemptStatus.SUCCESS, 3.0, [event("r1", "RUN_SUCCESS")]
        )
    [attempt] = storage.get_step_attempts(attempt_ids=["a1"])
    assert attempt.status is StepAttemptStatus.RUNNING
    assert storage.get_events("r1") == []


def test_racing_appends_have_exactly_one_winner(storage: Storage) -> None:
    run_ids = [f"r{i}" for i in range(15)]
    for run_id in run_ids:
        add_run(storage, run_id, status=S.QUEUED)
    threads_n = 6
    barrier = threading.Barrier(threads_n)
    wins: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def race(index: int) -> None:
        try:
            barrier.wait()
            for run_id in run_ids:
                if append(storage, run_id, "RUN_STARTING", S.STARTING, [S.QUEUED]).moved:
                    wins.append((index, run_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(run_id for _, run_id in wins) == sorted(run_ids)  # one winner each
    assert {status_of(storage, run_id) for run_id in run_ids} == {S.STARTING}
    for run_id in run_ids:  # one RUN_STARTING each; the losers' refusals beside it
        types = [e.event_type for e in storage.get_events(run_id)]
        assert types.count("RUN_STARTING") == 1
        assert types.count("ENGINE_EVENT") == threads_n - 1


def test_worker_heartbeat(storage: Storage) -> None:
    add_run(storage, "r1")
    storage.record_run_worker_heartbeat("r1", 1234.5)
    assert run_of(storage, "r1").worker_heartbeat_at == 1234.5


def test_delete_run_removes_its_tags_and_events(storage: Storage) -> None:
    add_run(storage, "gone", tags={"t": "1"})
    add_run(storage, "kept", tags={"t": "1"})
    storage.store_events([event("gone", "LOG"), event("kept", "LOG"), event("gone", "LOG")])
    storage.delete_run("gone")
    assert storage.get_run("gone") is None
    assert storage.get_events("gone") == []
    assert [run.run_id for run in storage.get_runs(RunsFilter(tags={"t": "1"}))] == ["kept"]
    assert len(storage.get_events("kept")) == 1
    add_run(storage, "gone")  # the id is free again, with no leftover tags
    assert run_of(storage, "gone").tags == {}


# -- event log -------------------------------------------------------------------------------
def test_store_events_returns_increasing_ids_in_batch_order(storage: Storage) -> None:
    batch = [
        EventRecord(
            run_id="r1" if i % 2 else "r2",
            event_type="STEP_OUTPUT",
            timestamp=1700000000.0 + i / 7,
            step_key=f"step_{i}",
            attempt=i if i % 3 else None,
            level="DEBUG",
            message=f"message {i} ✓",
            data={"i": i, "nested": {"values": [1.5, None, "x"]}},
        )
        for i in range(6)
    ]
    ids = storage.store_events(batch)
    assert len(ids) == 6 and ids == sorted(set(ids))
    more = storage.store_events([event("r1", "LOG"), event("r1", "LOG")])
    assert more[0] > ids[-1] and more[1] > more[0]
    assert storage.store_events([]) == []

    stored = storage.get_events("r1")
    assert [e.storage_id for e in stored] == [ids[1], ids[3], ids[5], *more]
    assert stored[0] == EventRecord(**{**batch[1].__dict__, "storage_id": ids[1]})
    assert stored[1].timestamp == batch[3].timestamp  # double precision, exact
    assert [e.storage_id for e in storage.get_events("r2")] == [ids[0], ids[2], ids[4]]


def test_get_events_filters(storage: Storage) -> None:
    ids = storage.store_events(
        [
            event("r1", "STEP_START", step_key="a"),
            event("r1", "STEP_SUCCESS", step_key="a"),
            event("r1", "STEP_START", step_key="b"),
            event("r1", "STEP_FAILURE", step_key="b"),
            event("r1", "ENGINE_EVENT"),
            event("other", "STEP_START", step_key="a"),
        ]
    )

    def got(**kwargs: Any) -> list[int | None]:
        return [e.storage_id for e in storage.get_events("r1", **kwargs)]

    assert got() == ids[:5]
    assert got(after_id=ids[1]) == ids[2:5]
    assert got(after_id=ids[4]) == []
    assert got(limit=2) == ids[:2]
    assert got(after_id=ids[0], limit=2) == ids[1:3]
    assert got(event_types=["STEP_START"]) == [ids[0], ids[2]]
    assert got(event_types=["STEP_START", "ENGINE_EVENT"]) == [ids[0], ids[2], ids[4]]
    assert got(step_key="b") == [ids[2], ids[3]]
    assert got(step_key="a", event_types=["STEP_SUCCESS"], after_id=ids[0]) == [ids[1]]
    assert storage.last_event_id("r1") == ids[4]
    assert storage.last_event_id("other") == ids[5]
    assert storage.last_event_id("none") is None


def test_wait_for_events_returns_at_once_when_events_exist(storage: Storage) -> None:
    ids = storage.store_events([event("r1", "LOG"), event("r1", "LOG")])
    found = storage.wait_for_events("r1", ids[0], timeout=60)
    assert [e.storage_id for e in found] == [ids[1]]  # a timed-out wait returns nothing


def test_wait_for_events_wakes_when_another_thread_stores(storage: Storage) -> None:
    ids = storage.store_events([event("r1", "LOG")])
    stored: list[int] = []

    def store_later() -> None:
        time.sleep(0.3)
        stored.extend(storage.store_events([event("r1", "STEP_START", step_key="s")]))

    thread = threading.Thread(target=store_later)
    thread.start()
    found = storage.wait_for_events("r1", ids[-1], timeout=60)
    thread.join()
    # Woken by the store: the wait returned the event stored after it began (a wait that
    # timed out would return nothing, one that returned early could not hold it).
    assert stored and [e.storage_id for e in found] == stored


def test_wait_for_events_times_out_with_nothing(storage: Storage) -> None:
    ids = storage.store_events([event("r1", "LOG")])
    threading.Timer(0.1, lambda: storage.store_events([event("other", "LOG")])).start()
    started = time.monotonic()
    assert storage.wait_for_events("r1", ids[-1], timeout=0.6) == []
    assert time.monotonic() - started >= 0.6  # it waited its timeout out


def test_many_threads_wait_for_different_runs(storage: Storage) -> None:
    results: dict[str, list[EventRecord]] = {}
    run_ids = [f"r{i}" for i in range(5)]

    def wait(run_id: str) -> None:
        results[run_id] = storage.wait_for_events(run_id, None, timeout=60)

    threads = [threading.Thread(target=wait, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    for run_id in run_ids:
        storage.store_events([event(run_id, "LOG", message=run_id)])
        time.sleep(0.05)
    for thread in threads:
        thread.join(90)
    assert sorted(results) == run_ids
    for run_id, found in results.items():
        assert [e.message for e in found] == [run_id]  # woken: a timed-out wait has none


# -- key-values, heartbeats, schedules, snapshots ------------------------------------------
def test_kv(storage: Storage) -> None:
    assert storage.kv_get("k") is None
    storage.kv_set("k", "1")
    storage.kv_set("other", "x")
    storage.kv_set("k", "2")
    assert storage.kv_get("k") == "2"
    assert storage.kv_get("other") == "x"


def test_daemon_heartbeats_keep_the_latest_per_daemon_type(storage: Storage) -> None:
    assert storage.get_daemon_heartbeats() == {}
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "d1", 10.0, {"pid": 1}))
    storage.add_daemon_heartbeat(DaemonHeartbeat("SENSOR", "d1", 11.0))
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "d2", 12.5, {"pid": 2}))
    assert storage.get_daemon_heartbeats() == {
        "SCHEDULER": DaemonHeartbeat("SCHEDULER", "d2", 12.5, {"pid": 2}),
        "SENSOR": DaemonHeartbeat("SENSOR", "d1", 11.0, {}),
    }


def test_instigator_state_upsert(storage: Storage) -> None:
    assert storage.get_instigator_state("loc:daily") is None
    first = InstigatorState(
        "loc:daily", InstigatorType.SCHEDULE, InstigatorStatus.RUNNING, {"cursor": "a"}, 5.0
    )
    storage.upsert_instigator_state(first)
    storage.upsert_instigator_state(
        InstigatorState("loc:files", InstigatorType.SENSOR, InstigatorStatus.STOPPED, {}, 6.0)
    )
    assert storage.get_instigator_state("loc:daily") == first
    stopped = InstigatorState(
        "loc:daily", InstigatorType.SCHEDULE, InstigatorStatus.STOPPED, {"cursor": "b"}, 7.0
    )
    storage.upsert_instigator_state(stopped)
    assert storage.get_instigator_state("loc:daily") == stopped
    assert [s.name for s in storage.get_instigator_states()] == ["loc:daily", "loc:files"]


def test_ticks(storage: Storage) -> None:
    first = storage.create_tick(TickRecord("loc:daily", "daily@1", TickStatus.STARTED, 1.0))
    second = storage.create_tick(TickRecord("loc:daily", "daily@2", TickStatus.STARTED, 2.0))
    storage.create_tick(TickRecord("loc:other", "other@1", TickStatus.STARTED, 3.0))
    assert first.tick_id is not None and second.tick_id is not None
    assert second.tick_id > first.tick_id
    with pytest.raises(DuplicateTickKey, match="daily@1"):
        storage.create_tick(TickRecord("loc:daily", "daily@1", TickStatus.STARTED, 9.0))

    done = TickRecord(
        "loc:daily",
        "daily@1",
        TickStatus.SUCCESS,
        1.5,
        run_ids=["r1", "r2"],
        cursor="c1",
        tick_id=first.tick_id,
    )
    storage.update_tick(done)
    skipped = TickRecord("loc:daily", "daily@2", TickStatus.SKIPPED, 2.5, skip_reason="no files")
    storage.update_tick(skipped)  # no id: found by its key
    assert storage.get_ticks("loc:daily") == [
        TickRecord(**{**skipped.__dict__, "tick_id": second.tick_id}),
        done,
    ]
    assert storage.get_ticks("loc:daily", limit=1)[0].tick_key == "daily@2"
    assert [t.tick_key for t in storage.get_ticks("loc:other")] == ["other@1"]
    assert storage.get_ticks("loc:none") == []


def test_snapshots(storage: Storage) -> None:
    body = {"ops": ["a", "b"], "config_schema": {"x": {"type": "int"}}}
    assert storage.get_snapshot("s1") is None
    storage.add_snapshot("s1", body)
    storage.add_snapshot("s1", body)  # content-addressed: adding again is harmless
    assert storage.get_snapshot("s1") == body


# -- schema --------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database with nothing in it yet."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("empty_pg_url")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)


def test_migrations_produce_exactly_the_schema(empty_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from opgraph_storage.schema import metadata

    migrate(empty_url)
    migrate(empty_url)  # at head: nothing to do
    engine = _engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, metadata) == []
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
    storage = create_storage(empty_url)
    try:
        add_run(storage, "r1")
        assert storage.store_events([event("r1", "LOG")])
    finally:
        storage.dispose()


def test_sqlite_schema_made_at_creation_equals_the_migrated_one(tmp_path) -> None:
    def ddl(path) -> list[str]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        conn.close()
        return sorted(" ".join(row[0].split()) for row in rows)

    migrate(str(tmp_path / "migrated.db"))
    create_storage(str(tmp_path / "created.db")).dispose()
    assert ddl(tmp_path / "migrated.db") == ddl(tmp_path / "created.db")


def _set_revision(url: str, revision: str | None) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if revision is None:
                conn.execute(sa.text("DROP TABLE alembic_version"))
            else:
                conn.execute(
                    sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
                )
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", ["0000_older", None])
def test_schema_behind_is_refused_with_the_fix(empty_url: str, revision: str | None) -> None:
    create_storage(empty_url).dispose()
    _set_revision(empty_url, revision)
    with pytest.raises(SchemaOutOfDate) as caught:
        create_storage(empty_url)
    message = str(caught.value)
    assert "opgraph instance migrate" in message
    assert str(sa.make_url(normalize_url(empty_url)).database) in message  # names the database
    assert head_revision() in message
    if revision:
        assert revision in message


def _upgrade_to(url: str, revision: str) -> None:
    from alembic import command

    from opgraph_storage.engine import make_engine, write_engine
    from opgraph_storage.migration import alembic_config

    engine = make_engine(normalize_url(url))
    try:
        with write_engine(engine).begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_a_database_at_0001_is_refused_then_migrated_with_its_data(empty_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from opgraph_storage.rows import run_values
    from opgraph_storage.schema import event_logs, metadata, runs

    _upgrade_to(empty_url, "0001")
    run = RunRecord(run_id="old", job_name="etl", created_at=1.0, updated_at=1.0)
    log = {"level": "INFO", "message": "", "timestamp": 1.0, "data": "{}"}
    engine = _engine(empty_url)
    try:
        with engine.begin() as conn:  # written by the opgraph of revision 0001
            assert not sa.inspect(conn).has_table("step_attempts")
            conn.execute(runs.insert().values(run_values(run)))
            conn.execute(event_logs.insert().values(run_id="old", event_type="LOG", **log))
    finally:
        engine.dispose()

    with pytest.raises(SchemaOutOfDate) as caught:
        create_storage(empty_url)
    message = str(caught.value)
    assert "is at schema revision 0001" in message
    assert f"needs revision {head_revision()}" in message
    assert "Run `opgraph instance migrate`" in message

    migrate(empty_url)
    engine = _engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
    storage = create_storage(empty_url)
    try:
        assert storage.get_run("old") == run
        assert [e.event_type for e in storage.get_events("old")] == ["LOG"]
        storage.add_step_attempts([StepAttempt("a1", "old", "s", 1)])
        assert storage.claim_step_attempt("a1", "w", 1, now=2.0)
        storage.put_output("old", "s", "result", None, b"v")
        assert storage.get_output("old", "s", "result", None) == b"v"
    finally:
        storage.dispose()


def test_unreachable_postgres_names_the_url_without_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_connect_patience(30)  # as a service: patience applies only to a database it reached
    caplog.set_level(logging.WARNING, logger="opgraph_storage.engine")
    try:
        with pytest.raises(StorageUnreachable) as caught:
            create_storage("postgres://opgraph:hunter2@127.0.0.1:1/opgraph")
    finally:
        set_connect_patience(0)
    message = str(caught.value)
    # Said at once, never tried again: a retry says so ("Trying again ...").
    assert "Trying again" not in caplog.text
    assert "hunter2" not in message
    assert "opgraph:***@127.0.0.1:1/opgraph" in message
    assert "Check that PostgreSQL is running" in message


def test_a_service_waits_for_a_database_it_reached_but_not_for_a_wrong_url(
    pg_storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.tcp_proxy import TcpProxy

    server = sa.make_url(normalize_url(pg_storage_url))
    set_connect_patience(30)  # as a run worker, Celery worker or the daemon does
    proxies = [TcpProxy("127.0.0.1", 0, target_port=server.port or 5432)]
    try:
        caplog.set_level(logging.WARNING, logger="opgraph_storage.engine")
        with pytest.raises(StorageUnreachable):  # never reached: a mistake, said at once
            create_storage("postgresql://postgres@127.0.0.1:1/opgraph")
        assert "Trying again" not in caplog.text  # not the 30 s of patience
        proxies[0].start()
        port = proxies[0].port
        storage = create_storage(server.set(port=port).render_as_string(False))
        try:
            proxies[0].cut()  # reached once, now away: connecting is tried again

            def come_back() -> None:
                proxies.append(TcpProxy("127.0.0.1", port, target_port=server.port or 5432))
                proxies[-1].start()

            threading.Timer(1.5, come_back).start()
            started = time.monotonic()
            assert storage.get_runs() == []
            assert time.monotonic() - started >= 1.0
            assert "Trying again" in caplog.text  # the reached database was waited for
        finally:
            storage.dispose()
    finally:
        set_connect_patience(0)
        for proxy in proxies:
            proxy.stop()


def test_missing_postgres_database_is_unreachable(pg_url: str) -> None:
    url = sa.make_url(normalize_url(pg_url)).set(database="opgraph_no_such_db")
    with pytest.raises(StorageUnreachable, match="opgraph_no_such_db"):
        create_storage(url.render_as_string(hide_password=False))


def test_unopenable_sqlite_path_is_unreachable(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageUnreachable, match="directory"):
        create_storage(str(blocker / "sub" / "opgraph.db"))


def test_normalize_url(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    pg = "postgresql+psycopg2://u:p@h:5432/db"
    assert normalize_url("postgres://u:p@h:5432/db") == pg
    assert normalize_url("postgresql://u:p@h:5432/db") == pg
    assert normalize_url(pg) == pg
    assert normalize_url("rel/opgraph.db") == f"sqlite:///{tmp_path}/rel/opgraph.db"
    assert normalize_url("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert normalize_url(normalize_url("x.db")) == normalize_url("x.db")


# -- processes -------------------------------------------------------------------------------
PROCESSES, BATCHES, BATCH_SIZE = 4, 200, 5


def _moved(outcome: RunEventOutcome) -> int:
    assert outcome.moved and outcome.storage_id is not None, outcome
    return outcome.storage_id


def _write_from_process(url: str, index: int, go: Any, results: Any) -> None:
    ids: list[int] = []
    try:
        storage = create_storage(url)  # all processes race to create the schema, too
        try:
            run_id = f"proc-{index}"
            add_run(storage, run_id)
            go.wait(30)
            for i in range(BATCHES):
                batch = [
                    event(run_id, "STEP_OUTPUT", step_key=f"s{i}", data={"i": i, "j": j})
                    for j in range(BATCH_SIZE)
                ]
                if i == 0:
                    ids.append(
                        _moved(append(storage, run_id, "RUN_START", S.STARTED, [S.NOT_STARTED]))
                    )
                ids.extend(storage.store_events(batch))
                if i == BATCHES - 1:
                    ids.append(
                        _moved(append(storage, run_id, "RUN_SUCCESS", S.SUCCESS, [S.STARTED]))
                    )
                if i % 25 == 0:
                    storage.kv_set(f"progress-{index}", str(i))
                    storage.get_events(run_id, after_id=ids[-1])
        finally:
            storage.dispose()
        results.put((index, ids, None))
    except BaseException as exc:
        results.put((index, ids, repr(exc)))


@pytest.fixture
def only_our_fork_hooks() -> Any:
    """Libraries other suites load (kombu's broker pools) register multiprocessing
    after-fork hooks that can block a forked child on a socket it shares with the parent.
    These tests are about the storage across a fork, so those hooks are set aside."""
    import multiprocessing.util as mp_util

    saved = dict(mp_util._afterfork_registry)
    mp_util._afterfork_registry.clear()
    yield
    mp_util._afterfork_registry.update(saved)


@pytest.mark.usefixtures("only_our_fork_hooks")
def test_concurrent_writers_in_several_processes(storage_url: str) -> None:
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_write_from_process, args=(storage_url, i, go, results))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    time.sleep(0.3)
    go.set()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    results.close()
    results.join_thread()
    assert [error for _, _, error in outcomes] == [None] * PROCESSES
    all_ids = []
    for _, ids, _ in outcomes:
        assert len(ids) == BATCHES * BATCH_SIZE + 2 and ids == sorted(ids)
        all_ids.extend(ids)
    assert len(set(all_ids)) == len(all_ids)

    storage = create_storage(storage_url)
    try:
        for index in range(PROCESSES):
            run_id = f"proc-{index}"
            stored = storage.get_events(run_id)
            assert [e.storage_id for e in stored] == dict((i, ids) for i, ids, _ in outcomes)[index]
            assert status_of(storage, run_id) is S.SUCCESS
            assert storage.kv_get(f"progress-{index}") == str(BATCHES - 25)
    finally:
        storage.dispose()


def _use_after_fork(storage: Storage, dispose_first: bool) -> None:
    if dispose_first:
        storage.dispose()
    storage.store_events([event("r1", "LOG", message="child")])
    assert storage.wait_for_events("r1", None, timeout=1)


@pytest.mark.parametrize("dispose_first", [True, False], ids=["disposed", "auto"])
@pytest.mark.usefixtures("only_our_fork_hooks")
def test_storage_survives_fork(storage: Storage, dispose_first: bool) -> None:
    add_run(storage, "r1")
    storage.store_events([event("r1", "LOG", message="parent")])
    # The parent has a pooled connection and (on PostgreSQL) a LISTEN connection now.
    assert storage.wait_for_events("r1", None, timeout=1)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_use_after_fork, args=(storage, dispose_first))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    # The child must not have closed the parent's connections.
    last = storage.get_events("r1")[-1].storage_id
    threading.Timer(0.2, lambda: storage.store_events([event("r1", "LOG")])).start()
    assert storage.wait_for_events("r1", last, timeout=60)
    assert [e.message for e in storage.get_events("r1")] == ["parent", "child", ""]


def test_a_follower_by_id_never_skips_events_of_concurrent_writers(storage: Storage) -> None:
    """Ids of one run's events increase in commit order, so `after_id` cursors are safe."""
    import threading as _threading

    from opgraph_storage.records import EventRecord as _Event

    storage.add_run(RunRecord(run_id="busy", job_name="job"))
    writers, per_writer = 8, 40
    done = _threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for i in range(per_writer):
            storage.store_events([_Event("busy", "LOG", float(i), f"w{n}", message=str(i))])

    def follow() -> None:
        cursor = None
        while True:
            finished = done.is_set()
            for event in storage.get_events("busy", after_id=cursor):
                seen.append(event.storage_id or 0)
                cursor = event.storage_id
            if finished:
                return

    follower = _threading.Thread(target=follow)
    follower.start()
    threads = [_threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join()
    assert len(seen) == writers * per_writer
    assert seen == sorted(seen)
