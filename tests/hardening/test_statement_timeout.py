"""The webserver's statement timeout: a query past it is cancelled by the database
(PostgreSQL) or by SQLite's progress handler, and answers a typed LimitExceededError."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from opgraph_app.graphql.errors import STATEMENT_TIMEOUT, error_for
from opgraph_storage.engine import is_statement_timeout, make_engine, set_statement_timeout
from opgraph_storage.urls import normalize_url

# Work that takes 150 times the timeout or more: without the timeout the query ends and
# `pytest.raises` fails; with it, the database cancels it.
SLOW = {
    "postgresql": "SELECT pg_sleep(30)",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000000) "
    "SELECT count(*) FROM n",
}


@pytest.fixture
def timeout() -> Iterator[None]:
    set_statement_timeout(0.2)
    STATEMENT_TIMEOUT["seconds"] = 0.2
    yield
    set_statement_timeout(None)
    STATEMENT_TIMEOUT["seconds"] = 0.0


def _cancelled(url: str) -> Exception:
    engine = make_engine(normalize_url(url))
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as raised:
            conn.exec_driver_sql(SLOW[engine.dialect.name]).all()
        with engine.connect() as conn:  # the pooled connection still works
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        return raised.value
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_cancels_a_query_past_the_timeout(timeout, pg_storage_url):
    exc = _cancelled(pg_storage_url)
    assert is_statement_timeout(exc)
    answer = error_for(exc)
    assert type(answer).__name__ == "LimitExceededError"
    assert answer.setting == "webserver.limits.statement_timeout_seconds"
    assert "SELECT" not in answer.message and "pg_sleep" not in answer.message


def test_sqlite_interrupts_a_query_past_the_timeout(timeout, sqlite_url):
    exc = _cancelled(sqlite_url)
    assert is_statement_timeout(exc)
    assert type(error_for(exc)).__name__ == "LimitExceededError"


@pytest.mark.postgres
def test_without_a_timeout_nothing_is_set(pg_storage_url):
    engine = make_engine(normalize_url(pg_storage_url))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_webserver_sets_its_configured_timeout(tmp_path, pg_storage_url):
    from opgraph.instance import OpgraphInstance
    from opgraph_app import create_app

    (tmp_path / "instance.yaml").write_text(
        f"storage: {{url: '{pg_storage_url}'}}\n"
        "webserver: {limits: {statement_timeout_seconds: 7}}\n"
    )
    instance = OpgraphInstance.get(tmp_path)
    try:
        client = create_app(instance).test_client()
        answer = client.post("/graphql", json={"query": "{ runsOrError { __typename } }"})
        assert answer.get_json()["data"]["runsOrError"]["__typename"] == "Runs"
        with instance.storage.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "7s"
    finally:
        set_statement_timeout(None)
        STATEMENT_TIMEOUT["seconds"] = 0.0
        instance.dispose()
