"""Two processes opening a new SQLite database at once: the second one's switch to WAL
finds the file locked (SQLite refuses at once, without busy_timeout) and must wait its
turn instead of failing to connect."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from opgraph_storage import engine as engine_module


def test_a_new_database_locked_by_another_connection_still_gets_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (a)")
    # Like another process writing the schema: a RESERVED lock, which makes SQLite refuse
    # the journal mode change at once (an EXCLUSIVE one would have it wait, as it should).
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    refused_once = threading.Event()
    real_sleep = engine_module.time.sleep

    def sleep(seconds: float) -> None:
        refused_once.set()  # _use_wal was refused and waits to look again
        real_sleep(seconds)

    monkeypatch.setattr(engine_module.time, "sleep", sleep)
    engine = engine_module.make_engine(f"sqlite:///{path}")
    outcome: dict[str, Any] = {}

    def connect() -> None:
        try:
            with engine.connect() as connection:
                outcome["mode"] = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        except Exception as exc:  # what the test reports
            outcome["error"] = exc

    thread = threading.Thread(target=connect)
    thread.start()
    assert refused_once.wait(30), outcome
    holder.execute("COMMIT")
    thread.join(60)
    holder.close()
    engine.dispose()
    assert outcome == {"mode": "wal"}
