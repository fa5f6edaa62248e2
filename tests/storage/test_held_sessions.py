"""A held database session as a sign of life (opgraph_storage.sessions): it ends the
moment its process is SIGKILLed, on the real PostgreSQL; SQLite cannot tell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from opgraph_storage import create_storage
from tests.waiting import wait_for

# A process that holds a session, says its token, and waits until it is killed.
_HOLDER = """
import sys
from opgraph_storage import create_storage
session = create_storage(sys.argv[1]).hold_session()
print(session.token, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def pg_storage(pg_storage_url):
    storage = create_storage(pg_storage_url)
    yield storage
    storage.dispose()


@pytest.mark.postgres
def test_a_session_held_by_a_process_ends_when_it_is_killed(pg_storage, pg_storage_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, pg_storage_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        token = holder.stdout.readline().strip()
        assert pg_storage.open_sessions([token]) == {token}
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        # The server ends the session once it reads the closed socket: milliseconds.
        wait_for(lambda: pg_storage.open_sessions([token]) == set(), "the session to end")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.postgres
def test_only_open_sessions_are_named(pg_storage):
    held = pg_storage.hold_session()
    closed = pg_storage.hold_session()
    closed.close()
    try:
        assert held.is_open()
        assert not closed.is_open()
        pid = held.token.partition("@")[0]
        # The same backend pid with another start time is another session: a reused pid.
        reused = f"{pid}@1.0"
        found = pg_storage.open_sessions([held.token, closed.token, reused, "garbage"])
        assert found == {held.token}
        wait_for(lambda: pg_storage.open_sessions([closed.token]) == set(), "the session to end")
    finally:
        held.close()


@pytest.mark.postgres
def test_a_session_the_server_ended_is_seen_closed_by_its_holder(pg_storage):
    """What a worker's heartbeat checks before each beat: after a database restart or a
    cut link, it opens a new session (fleet.WorkerHeartbeat)."""
    held = pg_storage.hold_session()
    try:
        pid = int(held.token.partition("@")[0])
        with pg_storage.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        wait_for(lambda: not held.is_open(), "the holder to see its session end")
    finally:
        held.close()


def test_sqlite_cannot_tell(sqlite_url):
    storage = create_storage(sqlite_url)
    try:
        assert storage.hold_session() is None
        assert storage.open_sessions(["1@1.0"]) is None
    finally:
        storage.dispose()
