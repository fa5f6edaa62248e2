"""A GraphQL query whose SQL runs past the statement timeout, on a real `opgraph webserver`
over PostgreSQL: a typed LimitExceededError naming the limit, the backend gone, /health up."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import _pg_connect
from tests.web_server import Webserver, make_home

RUNS = """{ runsOrError { __typename
  ... on LimitExceededError { message limit maximum setting }
  ... on Runs { results { runId } } } }"""


@pytest.fixture
def server(tmp_path: Path, pg_storage_url: str):
    home = make_home(
        tmp_path, pg_storage_url, webserver={"limits": {"statement_timeout_seconds": 1}}
    )
    command = [sys.executable, "-m", "opgraph_app", "webserver", "--host", "127.0.0.1"]
    web = Webserver(home, command=[*command, "--port", "{port}"])
    yield web
    web.stop()


def _backends(url: str, pid: int) -> list[str]:
    conn = _pg_connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> %s AND pid <> pg_backend_pid() AND state = 'active' "
                "AND query ILIKE '%%runs%%'",
                (pid,),
            )
            return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


def test_a_query_past_the_timeout_is_a_typed_error_and_leaves_nothing(server, pg_storage_url):
    # The runs table locked by another session: the webserver's SELECT waits on the lock,
    # and only its statement timeout (1 s) can end the wait: the lock is held until after
    # the answer and the check of pg_stat_activity.
    holder = _pg_connect(pg_storage_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN; LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            cursor.execute("SELECT pg_backend_pid()")
            holder_pid = cursor.fetchone()[0]
        status, _, body = server.request(
            "/graphql",
            json.dumps({"query": RUNS}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, body
        answer = json.loads(body)["data"]["runsOrError"]
        assert answer["__typename"] == "LimitExceededError", answer
        assert answer["setting"] == "webserver.limits.statement_timeout_seconds"
        assert answer["maximum"] == 1
        assert "statement timeout" in answer["limit"]
        # The cancelled statement is gone from PostgreSQL while the lock is still held.
        deadline = time.monotonic() + 60
        while _backends(pg_storage_url, holder_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _backends(pg_storage_url, holder_pid) == []
    finally:
        holder.close()
    status, _, _ = server.request("/health")
    assert status == 200
    assert server.gql(RUNS)["runsOrError"] == {"__typename": "Runs", "results": []}
