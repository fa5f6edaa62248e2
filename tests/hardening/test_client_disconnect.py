"""A client that goes away does not leave its query running (the gevent worker cancels
the statement: app/gunicorn_worker.py), on a real `opgraph webserver` over PostgreSQL."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from opgraph_storage.urls import normalize_url
from tests.web_server import Webserver, make_home

COUNT = "{ runsOrError { ... on Runs { count } } }"
# Backends of this database waiting for a lock on a statement that reads `runs`.
WAITING = """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
  AND wait_event_type = 'Lock' AND query LIKE '%FROM runs%' AND pid <> pg_backend_pid()"""


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_query_is_cancelled_when_its_client_goes_away(tmp_path: Path, pg_storage_url):
    # A statement timeout far past this test's waits: only the disconnect can end it.
    limits = {"limits": {"statement_timeout_seconds": 3600}}
    home = make_home(tmp_path, pg_storage_url, webserver=limits)
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "opgraph_app",
        "webserver",
        "--port",
        "{port}",
    ]
    server = Webserver(home, command=command)
    engine = sa.create_engine(normalize_url(pg_storage_url))
    watcher = sa.create_engine(normalize_url(pg_storage_url), isolation_level="AUTOCOMMIT")
    try:
        assert server.gql(COUNT)["runsOrError"]["count"] == 0  # connections warm
        with engine.connect() as locker, watcher.connect() as observer:
            # The request's statement waits behind this lock for as long as it is held.
            locker.exec_driver_sql("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")

            def waiting() -> int:
                return observer.execute(sa.text(WAITING)).scalar_one()

            body = json.dumps({"query": COUNT}).encode()
            client = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            client.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            _wait_until(lambda: waiting() == 1, "the request's statement to wait on the lock")
            client.close()

            _wait_until(lambda: waiting() == 0, "the statement to be cancelled")
            assert server.request("/health")[0] == 200
            locker.rollback()
        assert server.gql(COUNT)["runsOrError"]["count"] == 0  # its connection still serves
    finally:
        server.stop()
        engine.dispose()
        watcher.dispose()
