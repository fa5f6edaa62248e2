"""How SqlStorage talks to each database: statements per call, transactions, pragmas."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from opgraph_storage import (
    EventRecord,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    StorageError,
    create_storage,
)
from opgraph_storage.engine import write_engine
from opgraph_storage.schema import kv
from opgraph_storage.sql import SqlStorage

SUCCESS = StepAttemptStatus.SUCCESS


@pytest.fixture
def sql_storage(storage: Any) -> SqlStorage:
    assert isinstance(storage, SqlStorage)
    return storage


@contextmanager
def statements(storage: SqlStorage) -> Iterator[list[str]]:
    """The SQL statements the storage sends while the block runs (whitespace collapsed)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(storage.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", record)


def _event(run_id: str, event_type: str) -> EventRecord:
    return EventRecord(run_id=run_id, event_type=event_type, timestamp=time.time())


def test_store_events_hot_path_statements(sql_storage: SqlStorage) -> None:
    sql_storage.add_run(RunRecord(run_id="r1", job_name="etl"))
    sql_storage.store_events([_event("r1", "LOG")])  # warm the pool
    with statements(sql_storage) as steps_only:
        sql_storage.store_events([_event("r1", "STEP_START") for _ in range(5)])
    start = _event("r1", "RUN_START")
    with statements(sql_storage) as with_run_event:
        sql_storage.append_run_event(
            start, RunStatus.STARTED, [RunStatus.NOT_STARTED], lambda _: start
        )

    if sql_storage.engine.dialect.name == "postgresql":
        # One autocommitted statement: insert + notify.
        assert len(steps_only) == 1 and steps_only[0].startswith("WITH locked AS")
    else:
        assert len(steps_only) == 3
        assert steps_only[0] == "BEGIN IMMEDIATE"
        assert steps_only[1].startswith("INSERT INTO event_logs")
        assert steps_only[2] == "SELECT last_insert_rowid()"
    if sql_storage.engine.dialect.name == "postgresql":
        # A lifecycle event that moves the run: one autocommitted statement (the status's
        # compare-and-set, the event insert, the notifications).
        assert len(with_run_event) == 1 and with_run_event[0].startswith("WITH moved AS")
        # One it refuses: the run's row read under its lock, then the refusal stored.
        with statements(sql_storage) as refused:
            outcome = sql_storage.append_run_event(
                start, RunStatus.STARTED, [RunStatus.NOT_STARTED], lambda _: None
            )
        assert not outcome.moved and outcome.status is RunStatus.STARTED
        assert refused[0].startswith("WITH moved AS")
        assert refused[1].startswith("SELECT runs.status") and refused[1].endswith("FOR UPDATE")
        return
    # SQLite: the run's row read, one UPDATE of it and the event insert, in one transaction.
    reads = [s for s in with_run_event if "FROM runs" in s]
    assert len(reads) == 1
    assert len([s for s in with_run_event if s.startswith("UPDATE runs")]) == 1
    inserts = [s for s in with_run_event if "INSERT INTO event_logs" in s]
    assert len(inserts) == 1


def test_step_attempt_and_output_writes_are_one_statement(sql_storage: SqlStorage) -> None:
    storage = sql_storage
    attempts = [StepAttempt(f"a{i}", "r1", f"s{i}", 1) for i in range(3)]
    writes: list[tuple[str, Callable[[], object]]] = [
        ("INSERT INTO step_attempts", lambda: storage.add_step_attempts(attempts)),
        ("UPDATE step_attempts SET status", lambda: storage.claim_step_attempt("a0", "w", 1, 2)),
        (
            "UPDATE step_attempts SET heartbeat_at",
            lambda: storage.heartbeat_step_attempts(["a0"], 3),
        ),
        ("UPDATE step_attempts SET status", lambda: storage.finish_step_attempt("a0", SUCCESS, 4)),
        ("INSERT INTO step_outputs", lambda: storage.put_output("r1", "s0", "out", None, b"v")),
    ]
    storage.kv_set("warm", "pool")
    for start, write in writes:
        with statements(storage) as sent:
            write()
        # PostgreSQL: autocommitted, one round trip; SQLite: in a write transaction.
        if storage.engine.dialect.name == "postgresql":
            expected = [start]
        else:
            expected = ["BEGIN IMMEDIATE", start]
        assert len(sent) == len(expected), sent
        assert all(s.startswith(e) for s, e in zip(sent, expected, strict=True)), sent
    with statements(storage) as sent:
        storage.heartbeat_step_attempts([], 5.0)
    assert sent == []


def test_write_transactions_are_atomic(sql_storage: SqlStorage) -> None:
    with pytest.raises(RuntimeError), write_engine(sql_storage.engine).begin() as conn:
        conn.execute(kv.insert().values(key="a", value="1"))
        raise RuntimeError("boom")
    assert sql_storage.kv_get("a") is None
    sql_storage.kv_set("a", "2")
    assert sql_storage.kv_get("a") == "2"


def test_postgres_connections_return_to_autocommit(pg_storage_url: str) -> None:
    storage = create_storage(pg_storage_url)
    try:
        assert isinstance(storage, SqlStorage)
        with write_engine(storage.engine).begin() as conn:
            assert getattr(conn.connection.dbapi_connection, "autocommit", None) is False
        with storage.engine.connect() as conn:
            assert getattr(conn.connection.dbapi_connection, "autocommit", None) is True
    finally:
        storage.dispose()


def test_sqlite_pragmas(sqlite_url: str) -> None:
    storage = create_storage(sqlite_url)
    try:
        assert isinstance(storage, SqlStorage)
        with storage.engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 30000
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        storage.dispose()


def _listen_backends(admin: sa.Connection) -> list[int]:
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN%'"
    )
    return list(admin.execute(query).scalars())


def test_waiting_survives_a_lost_listen_connection(pg_storage_url: str) -> None:
    storage = create_storage(pg_storage_url)
    assert isinstance(storage, SqlStorage)
    admin_engine = sa.create_engine(storage.engine.url, isolation_level="AUTOCOMMIT")
    try:
        # Storages of earlier tests on this database may still listen: count only ours.
        with admin_engine.connect() as admin:
            others = set(_listen_backends(admin))
        storage.store_events([_event("r1", "LOG")])
        assert storage.wait_for_events("r1", None, timeout=1)
        with admin_engine.connect() as admin:
            [pid] = set(_listen_backends(admin)) - others
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        for _ in range(2):  # first wait falls back to polling, the next one LISTENs again
            last = storage.get_events("r1")[-1].storage_id
            threading.Timer(0.2, lambda: storage.store_events([_event("r1", "LOG")])).start()
            assert storage.wait_for_events("r1", last, timeout=60)
        with admin_engine.connect() as admin:
            assert len(set(_listen_backends(admin)) - others) == 1
    finally:
        admin_engine.dispose()
        storage.dispose()


def test_a_read_whose_connection_drops_under_it_is_tried_again(pg_storage_url: str) -> None:
    """The checkout check replaces a connection that was dropped before it was handed out;
    one dropped between the checkout and the statement fails the statement, and a read
    (which wrote nothing) then runs again on a fresh connection."""
    from opgraph_storage import engine as storage_engine

    storage = create_storage(pg_storage_url)
    assert isinstance(storage, SqlStorage)
    admin_engine = sa.create_engine(storage.engine.url, isolation_level="AUTOCOMMIT")
    try:
        storage.store_events([_event("r1", "LOG")])

        def drop_pooled_connections() -> None:
            with storage.engine.connect() as pooled:  # the connection the next call gets
                pid = pooled.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with admin_engine.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            time.sleep(0.2)

        # As if each dropped right after the checkout check passed.
        sa.event.remove(storage.engine, "checkout", storage_engine._postgres_on_checkout)
        drop_pooled_connections()
        assert [e.event_type for e in storage.get_events("r1")] == ["LOG"]
        assert storage.get_step_attempts(run_id="r1") == []

        # The same for the two compare-and-sets of a Celery step.
        storage.add_run(RunRecord(run_id="r1", job_name="job"))
        storage.add_step_attempts([StepAttempt("a1", "r1", "s", 0, queued_at=1.0)])
        drop_pooled_connections()
        assert storage.claim_step_attempt("a1", "w@h", 7, 2.0)
        drop_pooled_connections()
        outcome = [_event("r1", "STEP_SUCCESS")]
        assert storage.complete_step_attempt("a1", StepAttemptStatus.SUCCESS, 3.0, outcome)
        assert [e.event_type for e in storage.get_events("r1")] == ["LOG", "STEP_SUCCESS"]

        # An event insert is tried again too: its batch had not landed.
        drop_pooled_connections()
        ids = storage.store_events([_event("r1", "LOG"), _event("r1", "LOG")])
        assert [e.storage_id for e in storage.get_events("r1")][-3:] == [ids[0] - 1, *ids]
    finally:
        admin_engine.dispose()
        storage.dispose()


def test_a_move_whose_connection_dropped_after_it_committed_knows_it_landed(
    pg_storage_url: str,
) -> None:
    """The commit happened but its answer was lost: trying again matches nothing, and the
    attempt's row shows whether the write that landed was this one."""
    storage = create_storage(pg_storage_url)
    assert isinstance(storage, SqlStorage)
    dropped = sa.exc.DBAPIError("UPDATE ...", {}, Exception("gone"), connection_invalidated=True)
    real_claim = storage._write_one

    @contextmanager
    def commit_then_drop() -> Iterator[Any]:
        with real_claim() as conn:
            yield conn
        storage._write_one = real_claim  # type: ignore[method-assign]
        raise dropped

    try:
        storage.add_run(RunRecord(run_id="r1", job_name="job"))
        attempts = [StepAttempt(a, "r1", f"step_{a}", 0, queued_at=1.0) for a in ("a1", "a2")]
        storage.add_step_attempts(attempts)
        storage._write_one = commit_then_drop  # type: ignore[method-assign]
        assert storage.claim_step_attempt("a1", "w@h", 7, 2.0)  # it was this claim
        assert storage.claim_step_attempt("a2", "other@h", 8, 2.0)
        storage._write_one = commit_then_drop  # type: ignore[method-assign]
        assert not storage.claim_step_attempt("a2", "w@h", 7, 2.5)  # a copy: not ours

        # Publishing: attempts whose insert landed before the drop are not a duplicate.
        storage._write_one = commit_then_drop  # type: ignore[method-assign]
        storage.add_step_attempts([StepAttempt("a3", "r1", "step_a3", 0, queued_at=3.0)])
        assert [a.attempt_id for a in storage.get_step_attempts(run_id="r1")] == [
            "a1",
            "a2",
            "a3",
        ]
        with pytest.raises(StorageError, match="already exists"):  # a real duplicate still is
            storage.add_step_attempts([StepAttempt("a3", "r1", "step_a3", 0, queued_at=3.0)])

        # Events whose batch landed before the drop are stored once, and their ids returned.
        before = storage.store_events([_event("r1", "LOG")])
        batch = [_event("r1", "STEP_START"), _event("r1", "LOG"), _event("r1", "STEP_SUCCESS")]
        storage._write_one = commit_then_drop  # type: ignore[method-assign]
        ids = storage.store_events(batch)
        stored = storage.get_events("r1")
        assert [e.event_type for e in stored] == ["LOG", "STEP_START", "LOG", "STEP_SUCCESS"]
        assert [e.storage_id for e in stored] == [*before, *ids]
    finally:
        storage.dispose()


def test_a_lifecycle_append_whose_answer_was_lost_is_stored_once(sql_storage: SqlStorage) -> None:
    """The transaction committed and only its answer was lost: the event (or the refusal)
    is found by content and not written twice, and the outcome says what happened."""
    storage = sql_storage
    dropped = sa.exc.DBAPIError("COMMIT", {}, Exception("gone"), connection_invalidated=True)
    real_begin = storage._begin

    @contextmanager
    def commit_then_drop() -> Iterator[Any]:
        with real_begin() as conn:
            yield conn
        storage._begin = real_begin  # type: ignore[method-assign]
        raise dropped

    def refusal(status: RunStatus) -> EventRecord:
        return _event("r1", "ENGINE_EVENT")

    storage.add_run(RunRecord(run_id="r1", job_name="job"))
    start = _event("r1", "RUN_START")
    storage._begin = commit_then_drop  # type: ignore[method-assign]
    moved = storage.append_run_event(start, RunStatus.STARTED, [RunStatus.NOT_STARTED], refusal)
    assert (moved.moved, moved.status) == (True, RunStatus.STARTED)

    storage._begin = commit_then_drop  # type: ignore[method-assign]
    again = _event("r1", "RUN_START")
    refused = storage.append_run_event(again, RunStatus.STARTED, [RunStatus.NOT_STARTED], refusal)
    assert (refused.moved, refused.status) == (False, RunStatus.STARTED)

    stored = storage.get_events("r1")
    assert [e.event_type for e in stored] == ["RUN_START", "ENGINE_EVENT"]
    assert [e.storage_id for e in stored] == [moved.storage_id, refused.storage_id]
    assert storage.get_run("r1").status is RunStatus.STARTED  # type: ignore[union-attr]
