"""A submit's move to QUEUED sends its NOTIFYs after its commit, not in it (PostgreSQL).

PostgreSQL serializes every committing transaction that notifies on one server-wide lock,
so the submit's own statement must not notify (opgraph_storage.after_commit_notify)."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from typing import Any

import psycopg2

from opgraph_storage import create_storage
from opgraph_storage.daemon_notify import RUN_QUEUE_CHANNEL
from opgraph_storage.pg_notify import CHANNEL
from opgraph_storage.records import EventRecord, RunRecord
from opgraph_storage.records import RunStatus as S


def _listen(pg_url: str) -> Any:
    conn = psycopg2.connect(pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANNEL}; LISTEN {RUN_QUEUE_CHANNEL}")
    return conn


def _notifications_until(conn: Any, wanted: tuple[str, str]) -> list[tuple[str, str]]:
    """(channel, payload) in the order they came, up to and with `wanted`."""
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted} within 60 s; got {seen}"
        select.select([conn], [], [], 1.0)
        conn.poll()
        seen += [(note.channel, note.payload) for note in conn.notifies]
        del conn.notifies[:]
    return seen


def _enqueue(storage: Any, run_id: str) -> bool:
    event = EventRecord(run_id, "RUN_ENQUEUED", time.time())
    outcome = storage.append_run_event(event, S.QUEUED, [S.NOT_STARTED], lambda _: None)
    return bool(outcome.moved)


def test_the_move_to_queued_itself_notifies_nobody(pg_storage_url: str) -> None:
    storage = create_storage(pg_storage_url)
    listener = _listen(pg_storage_url)
    handed: list[str] = []
    try:
        storage.add_run(RunRecord(run_id="r1", job_name="etl", status=S.NOT_STARTED))
        storage._after_commit.add = handed.append  # type: ignore[attr-defined]
        assert _enqueue(storage, "r1")
        # Notifications arrive in commit order: one the move sent comes before this one.
        with listener.cursor() as cursor:
            cursor.execute(f"SELECT pg_notify('{CHANNEL}', 'sentinel')")
        seen = _notifications_until(listener, (CHANNEL, "sentinel"))
        assert seen == [(CHANNEL, "sentinel")]
        assert handed == ["r1"]
        assert storage.get_run_status("r1") is S.QUEUED
    finally:
        listener.close()
        storage.dispose()


def test_the_run_and_the_run_queue_are_notified_after_the_commit(pg_storage_url: str) -> None:
    storage = create_storage(pg_storage_url)
    listener = _listen(pg_storage_url)
    try:
        for run_id in ("r1", "r2"):
            storage.add_run(RunRecord(run_id=run_id, job_name="etl", status=S.NOT_STARTED))
            assert _enqueue(storage, run_id)
        seen = _notifications_until(listener, (CHANNEL, "r2"))
        assert (CHANNEL, "r1") in seen
        assert (RUN_QUEUE_CHANNEL, "") in seen
    finally:
        listener.close()
        storage.dispose()


def test_a_process_that_exits_right_after_a_submit_still_notifies(pg_storage_url: str) -> None:
    """As `opgraph runs launch` does with the queued coordinator: no dispose, no wait."""
    listener = _listen(pg_storage_url)
    script = f"""
import time
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus as S
storage = create_storage({pg_storage_url!r})
storage.add_run(RunRecord(run_id="r1", job_name="etl", status=S.NOT_STARTED))
event = EventRecord("r1", "RUN_ENQUEUED", time.time())
assert storage.append_run_event(event, S.QUEUED, [S.NOT_STARTED], lambda _: None).moved
"""
    try:
        subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
        assert (CHANNEL, "r1") in _notifications_until(listener, (RUN_QUEUE_CHANNEL, ""))
    finally:
        listener.close()
