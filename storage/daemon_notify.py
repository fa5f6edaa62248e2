"""PostgreSQL LISTEN on the run-queue channel: wake the daemon's run queue at once.

`append_run_event` notifies `opgraph_run_queue` in the transaction that moves a run to a
finished status, and just after the commit that moves a run to QUEUED (a submit; see
opgraph_storage.after_commit_notify): the moments the queue has a free slot or something
new to launch. The daemon then dequeues within milliseconds instead of on its polling
interval.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

RUN_QUEUE_CHANNEL = "opgraph_run_queue"


class RunQueueListener:
    """One LISTEN connection, read by one thread (the daemon's run queue)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # returns a fresh psycopg2 connection
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        """True if the queue may have changed: a notification came, or listening just
        (re)started and whatever happened before is unknown. False after `timeout`.
        Raises psycopg2.Error / OSError when the connection fails (the caller polls)."""
        if self._conn is None:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f"LISTEN {RUN_QUEUE_CHANNEL}")
            self._conn = conn
            return True
        conn = self._conn
        try:
            if not conn.notifies:
                select.select([conn], [], [], max(0.0, timeout))
            conn.poll()
        except Exception:
            self.close()
            raise
        woken = bool(conn.notifies)
        del conn.notifies[:]
        return woken

    def close(self, *, forked: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not forked:
            try:
                conn.close()
            except Exception:
                pass
