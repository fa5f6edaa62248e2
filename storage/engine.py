"""One SQLAlchemy engine per storage, set up for its dialect.

SQLite: WAL, a 30 s busy timeout, and `BEGIN IMMEDIATE` for write transactions. pysqlite's
own deferred BEGIN takes the write lock only at the first write; if another process wrote
in between, SQLite fails at once with "database is locked" instead of waiting. Taking the
write lock at BEGIN makes writers queue on the busy timeout. Reads use a plain BEGIN, so
under WAL they never wait for writers.

PostgreSQL: psycopg2 and a connect timeout. Connections stay in autocommit, so a read or a
single-statement write is one round trip; write transactions turn autocommit off for
their duration (psycopg2 then sends BEGIN and COMMIT). SQLAlchemy's AUTOCOMMIT isolation
level would do the same but costs two `set_isolation_level` calls per checkout.

A connection the server dropped is noticed at checkout (its socket has the server's
goodbye to read) and replaced.
Services with work in flight (run workers, Celery workers, the daemon) also wait out a
database that is away for a while (`set_connect_patience`): a new connection is tried
again with backoff instead of failing the write; CLI commands and web requests fail at
once with the reason.
"""

from __future__ import annotations

import logging
import select
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from opgraph_storage.base import StorageError, StorageUnreachable
from opgraph_storage.urls import redact_url

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10
_WRITE_OPTION = "opgraph_write"
_FIRST_RETRY_DELAY_S = 0.1
_MAX_RETRY_DELAY_S = 2.0
# Seconds this process keeps trying to connect before a checkout fails (see below).
_patience = {"seconds": 0.0}
_reached_pools: weakref.WeakSet[Any] = weakref.WeakSet()  # pools that connected once


# Longest a single statement may run in this process (None: no limit); the webserver
# sets it so no request can keep a database backend busy after its client gave up.
_statement_timeout: dict[str, float | None] = {"seconds": None}


def set_statement_timeout(seconds: float | None) -> None:
    """Cancel any statement of this process's engines that runs longer than `seconds`:
    PostgreSQL's `statement_timeout` (set on each connection at its next checkout),
    SQLite's progress handler (checked every few thousand VM instructions)."""
    _statement_timeout["seconds"] = seconds if seconds and seconds > 0 else None


def is_statement_timeout(exc: BaseException) -> bool:
    """Was `exc` a statement cancelled by `set_statement_timeout`?"""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) == "57014":  # query_canceled
        return True
    return orig is not None and "interrupted" in str(orig) and "sqlite" in type(orig).__module__


def _apply_statement_timeout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    seconds = _statement_timeout["seconds"]
    if record.info.get("statement_timeout", None) == seconds:
        return
    if hasattr(dbapi_connection, "set_progress_handler"):  # sqlite3
        info = record.info
        info["deadline"] = float("inf")
        handler = None if seconds is None else (lambda: time.monotonic() > info["deadline"])
        dbapi_connection.set_progress_handler(handler, 10_000)
    else:  # at checkout the connection is in autocommit: SET lasts for the session
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int((seconds or 0) * 1000)}")
    record.info["statement_timeout"] = seconds


def _sqlite_statement_start(conn: Connection, *_: Any) -> None:
    seconds = _statement_timeout["seconds"]
    if seconds is not None:
        conn.info["deadline"] = time.monotonic() + seconds


def set_connect_patience(seconds: float) -> None:
    """How long this process waits for the database to come back (a restart, a failover)
    before a connection fails; called by long-running services at startup."""
    _patience["seconds"] = max(0.0, seconds)


def make_engine(url: str) -> Engine:
    """The engine for a normalized storage URL (see opgraph_storage.urls.normalize_url)."""
    sa_url = make_url(url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(sa_url)
    if backend == "postgresql":
        return _postgres_engine(sa_url)
    raise StorageError(
        f"unsupported storage database {redact_url(url)}: use a file path, "
        "sqlite:///path/to/file.db or postgresql://user@host:port/database"
    )


def write_engine(engine: Engine) -> Engine:
    """A view of `engine` (same pool) for write transactions.

    Its transactions take SQLite's write lock up front, and are real transactions on
    PostgreSQL; connections from `engine` itself read (or write one statement) in
    autocommit on PostgreSQL."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise StorageError(
            "in-memory SQLite cannot be shared between connections and processes: "
            "give the storage a file path instead"
        )
    path = Path(database).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageUnreachable(
            f"cannot create the directory of the SQLite storage database {path}: {exc}. "
            "Check the storage path and that its directory is writable."
        ) from exc
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    event.listen(engine, "checkout", _apply_statement_timeout)
    event.listen(engine, "before_cursor_execute", _sqlite_statement_start)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Stop pysqlite from emitting its own deferred BEGIN; _sqlite_on_begin does it.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    _use_wal(dbapi_connection)
    # With WAL, NORMAL is still corruption-safe; it only risks the last commits on power loss.
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def _use_wal(dbapi_connection: Any) -> None:
    """WAL is a property of the file: set it only when it is not set yet. Setting it needs
    a lock that SQLite refuses at once ("database is locked", without waiting for
    busy_timeout) while another connection holds one, e.g. two processes opening a new
    database together: then look again, a moment later, within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() == "wal":
            return
        try:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # another connection holds the lock: it is gone in milliseconds
        pause = min(pause * 2, 0.2)


def _sqlite_on_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_engine(url: URL) -> Engine:
    engine = sa.create_engine(url, connect_args=_postgres_connect_args(url))
    event.listen(engine, "connect", _postgres_on_connect)
    event.listen(engine, "checkout", _postgres_on_checkout)
    event.listen(engine, "checkout", _apply_statement_timeout)
    event.listen(engine, "begin", _postgres_on_begin)
    event.listen(engine, "checkin", _postgres_on_checkin)
    return engine


def _postgres_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.autocommit = True


def _postgres_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has dropped (a restart, a failover, an idle
    timeout, pg_terminate_backend) before a step or event write picks it up.

    An idle connection has nothing to read unless the server said goodbye or closed it,
    so one non-blocking poll of its socket tells, without a round trip (pool_pre_ping
    would add one to every checkout: a third of a Celery step's time on a busy fleet).
    The pool then opens a new connection."""
    poller = select.poll()  # not select.select: it cannot watch descriptors past 1023
    try:
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        ready = poller.poll(0)
    except (OSError, ValueError) as exc:
        raise sa.exc.DisconnectionError(f"unusable pooled connection: {exc}") from exc
    if ready:
        raise sa.exc.DisconnectionError("the server closed this pooled connection")


def _postgres_on_begin(connection: Connection) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and connection.get_execution_options().get(_WRITE_OPTION):
        dbapi_connection.autocommit = False  # type: ignore[attr-defined]


def _postgres_on_checkin(dbapi_connection: Any, record: Any) -> None:
    # The pool has rolled back whatever was left open; back to autocommit for the next use.
    if dbapi_connection is None or dbapi_connection.autocommit:
        return
    try:
        dbapi_connection.rollback()
        dbapi_connection.autocommit = True
    except Exception:
        record.invalidate()  # a broken connection: the pool reconnects on next checkout


def _postgres_connect_args(url: URL) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        args["application_name"] = "opgraph"
    return args


def dbapi_connect(engine: Engine) -> Any:
    """A new DBAPI connection outside the pool (e.g. psycopg2 for LISTEN)."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    if engine.dialect.name == "postgresql":
        cparams = {**cparams, **_postgres_connect_args(engine.url)}
    return engine.dialect.loaded_dbapi.connect(*cargs, **cparams)


def connect_or_raise(engine: Engine) -> Connection:
    """Check out a connection, turning a failure to connect into StorageUnreachable.

    Connecting again is safe (no statement was sent), so within the process's patience a
    failure is retried with backoff; only once the database has been reached, so that a
    wrong URL is reported at once and not after the patience ran out."""
    reached_before = engine.pool in _reached_pools
    deadline = time.monotonic() + (_patience["seconds"] if reached_before else 0.0)
    delay = _FIRST_RETRY_DELAY_S
    while True:
        try:
            connection = engine.connect()
            _reached_pools.add(engine.pool)
            return connection
        except sa.exc.DBAPIError as exc:
            if time.monotonic() + delay > deadline:
                raise StorageUnreachable(_unreachable_message(engine, exc)) from exc
            if delay == _FIRST_RETRY_DELAY_S:  # once per outage met: a silent wait hides it
                logger.warning(
                    "%s Trying again for up to %gs (storage.reconnect_timeout_seconds).",
                    _unreachable_message(engine, exc),
                    _patience["seconds"],
                )
        time.sleep(delay)
        delay = min(delay * 2, _MAX_RETRY_DELAY_S)


def _unreachable_message(engine: Engine, exc: sa.exc.DBAPIError) -> str:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc.orig)
    if engine.dialect.name == "sqlite":
        return (
            f"cannot open the SQLite storage database {where}: {reason}. "
            "Check the path and that the file and its directory are readable and writable."
        )
    return (
        f"cannot connect to the storage database {where}: {reason}. "
        "Check that PostgreSQL is running and reachable at that host and port, and that "
        "the user, password and database name in the storage URL are right."
    )
