"""Schema versions: run the Alembic history, and check a database before using it.

Alembic is imported only to change a database (migrate, create and stamp a new one) or
to explain a wrong revision. Checking that a database is at the head revision, which
every process does when it opens its storage, reads the revision ids from the history's
files instead: importing Alembic and loading its script directory took about 110 ms of
each fresh Celery pool child's first task and of every CLI command
(`python -X importtime`), for a string compare.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opgraph_storage.base import SchemaOutOfDate
from opgraph_storage.engine import connect_or_raise, make_engine, write_engine
from opgraph_storage.schema import metadata
from opgraph_storage.urls import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_COMMAND = "opgraph instance migrate"
# Any constant works: it only has to be the same in every opgraph process.
_PG_SCHEMA_LOCK_KEY = 0x6F70_6772_6170_68


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the bundled history (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def head_revision() -> str:
    """The newest revision of the bundled history, read from the scripts' own
    `revision = ...` / `down_revision = ...` lines (tests/storage checks it against
    Alembic's answer)."""
    revisions: dict[str, object] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        names = _literal_assignments(path, ("revision", "down_revision"))
        if isinstance(names.get("revision"), str):
            revisions[str(names["revision"])] = names.get("down_revision")
    pointed_at: set[object] = set()
    for down in revisions.values():
        pointed_at.update(down if isinstance(down, (tuple, list)) else (down,))
    heads = sorted(set(revisions) - pointed_at)
    assert len(heads) == 1, f"the migration history needs exactly one head, has {heads}"
    return heads[0]


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names and node.value:
                    found[target.id] = ast.literal_eval(node.value)
    return found


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (`alembic upgrade head`)."""
    from alembic import command

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
        # The usual case in one statement; the catalog is read only when it is not it.
        if _revision(conn) == head_revision():
            return
        revision, has_tables = _state(conn)
    if revision is None and not has_tables:
        with write_engine(engine).begin() as conn:
            _lock_schema(conn)
            revision, has_tables = _state(conn)  # another process may have won the race
            if revision is None and not has_tables:
                from alembic.runtime.migration import MigrationContext

                metadata.create_all(conn)
                MigrationContext.configure(conn).stamp(_scripts(), "head")
                return
    if revision != head_revision():
        raise SchemaOutOfDate(_out_of_date_message(engine, revision))


def _revision(conn: Connection) -> str | None:
    """The stored revision, or None where there is none (no alembic_version table)."""
    try:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        conn.rollback()  # PostgreSQL: the failed statement ended the transaction
        return None
    return str(revision) if revision is not None else None


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
