"""Schema versions: run the Alembic history, and check a database before using it."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from opgraph_storage.base import SchemaOutOfDate
from opgraph_storage.engine import connect_or_raise, make_engine, write_engine
from opgraph_storage.schema import metadata
from opgraph_storage.urls import normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_COMMAND = "opgraph instance migrate"
# Any constant works: it only has to be the same in every opgraph process.
_PG_SCHEMA_LOCK_KEY = 0x6F70_6772_6170_68


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the bundled history (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "the migration history has no head"
    return head


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (`alembic upgrade head`)."""
    engine = make_engine(normalize_url(url))
    try:
        with connect_or_raise(engine):
            pass
        with write_engine(engine).begin() as conn:
            _lock_schema(conn)
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision.

    Creating from `metadata` and stamping head is what the migrations produce (a test
    compares the two) and is much faster than replaying the history.
    """
    with connect_or_raise(engine) as conn:
        revision, has_tables = _state(conn)
    if revision == head_revision():
        return
    if revision is None and not has_tables:
        with write_engine(engine).begin() as conn:
            _lock_schema(conn)
            revision, has_tables = _state(conn)  # another process may have won the race
            if revision is None and not has_tables:
                metadata.create_all(conn)
                MigrationContext.configure(conn).stamp(_scripts(), "head")
                return
    if revision != head_revision():
        raise SchemaOutOfDate(_out_of_date_message(engine, revision))


def _state(conn: Connection) -> tuple[str | None, bool]:
    """(Alembic revision or None, whether opgraph tables exist)."""
    inspector = sa.inspect(conn)
    has_tables = inspector.has_table("runs")
    revision = None
    if inspector.has_table("alembic_version"):
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return revision, has_tables


def _lock_schema(conn: Connection) -> None:
    # SQLite: BEGIN IMMEDIATE already serializes writers. PostgreSQL: DDL does not, so
    # two processes creating the schema at once take turns on an advisory lock.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK_KEY})


def _out_of_date_message(engine: Engine, revision: str | None) -> str:
    where = engine.url.render_as_string(hide_password=True)
    head = head_revision()
    if revision is None:
        found = "has opgraph tables but no schema revision"
    elif revision in {script.revision for script in _scripts().walk_revisions()}:
        found = f"is at schema revision {revision}"
    else:
        found = (
            f"is at schema revision {revision}, unknown to this opgraph version "
            "(if a newer opgraph upgraded it, upgrade opgraph here too)"
        )
    return (
        f"the storage database {where} {found}, but this opgraph needs revision {head}. "
        f"Run `{MIGRATE_COMMAND}` to upgrade it (back up the database first)."
    )
