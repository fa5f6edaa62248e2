"""Statements on every asset step's path (the catalog and partition status writes that
commit with its events), compiled once per dialect (benchmarks/assets.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class CompiledStatement:
    """A write statement, given rows as tuples in the order of `columns`.

    On SQLite it is compiled once to the driver's SQL and run on the DBAPI connection
    itself: it skips SQLAlchemy's per-call compile-cache lookup, parameter processing and
    execution context. The engine's cursor hooks still see each statement (the statement
    timeout's deadline, statement-counting listeners) and a driver error is raised as
    SQLAlchemy's, as conn.execute raises it. On PostgreSQL SQLAlchemy's executemany
    batches many rows into one statement (insertmanyvalues) where psycopg2's own makes
    one round trip per row."""

    def __init__(self, statement: Any, columns: tuple[str, ...], dialect: Any) -> None:
        self.statement = statement
        self.columns = columns
        self.sql: str | None = None
        self.reorder: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        if dialect.name == "sqlite":
            compiled = statement.compile(dialect=dialect, column_keys=list(columns))
            self.sql, order = str(compiled), tuple(compiled.positiontup)
            if order != columns:  # the driver takes the parameters in the SQL's order
                self.reorder = _reorder(columns, order, compiled.params)

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self.sql is None:
            columns = self.columns
            conn.execute(self.statement, [dict(zip(columns, row, strict=True)) for row in rows])
            return
        if self.reorder is not None:
            rows = list(map(self.reorder, rows))
        sqlite_executemany(conn, self.sql, rows)


def sqlite_executemany(conn: Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """`sql` with each of `params` on `conn`'s sqlite3 connection, in its transaction."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    hooks = conn.dispatch
    for hook in hooks.before_cursor_execute:
        sql, params = hook(conn, None, sql, params, None, True)
    try:
        dbapi.executemany(sql, params)
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
    hooks.after_cursor_execute(conn, None, sql, params, None, True)


def _reorder(
    columns: tuple[str, ...], order: tuple[str, ...], constants: dict[str, Any]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A row in the order of `columns` -> the driver's parameters in the SQL's `order`,
    where a name that is not a column is a constant of the statement (a literal compared
    with, e.g. a status)."""
    if set(order) <= set(columns) and len(order) > 1:
        return itemgetter(*(columns.index(name) for name in order))
    picks = [
        (columns.index(name), None) if name in columns else (-1, constants[name]) for name in order
    ]
    return lambda row: tuple(row[i] if i >= 0 else constant for i, constant in picks)
