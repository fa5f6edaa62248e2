"""Fixtures shared by the whole test suite: databases and Redis.

PostgreSQL and Redis are the real servers at OPGRAPH_TEST_PG_URL / OPGRAPH_TEST_REDIS_URL.
When one is down, the tests that need it are skipped, except under CI=true, where they
fail: CI must test every backend.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

# The project is importable without `pip install -e .` (e.g. `.venv/bin/pytest`).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.celery_fleet", "tests.browser"]

PG_URL = os.environ.get("OPGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("OPGRAPH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _unavailable(what: str, error: Exception) -> NoReturn:
    message = f"{what} is not reachable ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything touching the real PostgreSQL gets the `postgres` marker: `-m "not postgres"`.
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


# -- PostgreSQL --------------------------------------------------------------------------------
def _pg_connect(url: str) -> Any:
    """A psycopg2 autocommit connection to a postgresql:// URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = psycopg2.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        connect_timeout=5,
    )
    conn.autocommit = True
    return conn


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _create_database(prefix: str) -> str:
    """Create a fresh database on the test server; returns its URL."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        conn = _pg_connect(PG_URL)
    except psycopg2.OperationalError as exc:
        _unavailable(f"PostgreSQL at {PG_URL}", exc)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return _with_database(PG_URL, name)


def _drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    conn = _pg_connect(PG_URL)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session, dropped at its end."""
    url = _create_database("opgraph_test")
    yield url
    _drop_database(url)


@pytest.fixture
def pg_storage_url(pg_url: str) -> str:
    """The session database with every table emptied: a clean state for each test.

    The schema (tables and Alembic revision) survives, so only the first test creates it.
    A test that needs a database without schema should use `empty_pg_url`."""
    conn = _pg_connect(pg_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")  # a leaked transaction fails, not hangs
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
            tables = [row[0] for row in cursor.fetchall()]
            if tables:
                quoted = ", ".join(f'"{table}"' for table in tables)
                cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY")
    finally:
        conn.close()
    return pg_url


@pytest.fixture
def empty_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database (slower: use only when the test needs it)."""
    url = _create_database("opgraph_test_empty")
    yield url
    _drop_database(url)


# -- SQLite and either backend --------------------------------------------------------------
@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'opgraph.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on a fresh SQLite file and on clean PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_storage_url")


@pytest.fixture
def storage(storage_url: str) -> Iterator[Any]:
    """A Storage over `storage_url`, disposed after the test."""
    from opgraph_storage import create_storage

    created = create_storage(storage_url)
    yield created
    created.dispose()


# -- Redis ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """RabbitMQ at OPGRAPH_TEST_AMQP_URL; tests name their own queues, so runs never meet."""
    import kombu

    try:
        with kombu.Connection(AMQP_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        _unavailable(f"RabbitMQ at {AMQP_URL}", exc)
    return AMQP_URL


IN_MEMORY_LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}


@pytest.fixture
def instance_storage_url(sqlite_url: str) -> str:
    """The storage `make_instance` uses; a directory's conftest may pick another."""
    return sqlite_url


@pytest.fixture
def make_instance(tmp_path: Path, instance_storage_url: str) -> Iterator[Callable[..., Any]]:
    """Instances configured through a real instance.yaml (the run worker reads it too)."""
    import yaml

    from opgraph.instance import OpgraphInstance

    created: list[OpgraphInstance] = []

    def make(coordinator: Any = "immediate", launcher: Any = IN_MEMORY_LAUNCHER) -> OpgraphInstance:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        config = {
            "storage": {"url": instance_storage_url},
            "run_coordinator": coordinator,
            "run_launcher": launcher,
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        instance = OpgraphInstance.get(home)
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.dispose()
