"""PostgreSQL LISTEN/NOTIFY: wake threads waiting for a run's events as soon as they land.

`store_events` and `append_run_event` run `pg_notify('opgraph_events', run_id)` in their
transaction; the notification is delivered when that transaction commits.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

CHANNEL = "opgraph_events"

T = TypeVar("T")


class NotifyUnavailable(Exception):
    """The LISTEN connection failed; the caller should fall back to polling."""


class EventNotifyListener:
    """One LISTEN connection per storage, shared by every thread waiting for events.

    Whichever waiting thread finds nobody reading the socket reads it and wakes the
    others; a counter per waited-on run id tells each waiter whether its run was named.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # returns a fresh psycopg2 connection
        self._cond = threading.Condition()
        self._conn: Any = None
        self._reading = False
        self._notified: dict[str, int] = {}  # run id -> notifications read so far
        self._waiters: dict[str, int] = {}  # run id -> threads waiting on it

    def wait(self, run_id: str, deadline: float, check: Callable[[], list[T]]) -> list[T]:
        """check()'s first non-empty result, or its result at `deadline` (time.monotonic)."""
        with self._cond:
            self._ensure_listening()
            self._waiters[run_id] = self._waiters.get(run_id, 0) + 1
            self._notified.setdefault(run_id, 0)
        try:
            while True:
                with self._cond:
                    seen = self._notified[run_id]
                # Checked after LISTEN and after reading `seen`: anything committed after
                # this check sends a notification that is not counted in `seen` yet.
                found = check()
                if found or not self._wait_for_notification(run_id, seen, deadline):
                    return found
        finally:
            with self._cond:
                self._waiters[run_id] -= 1
                if not self._waiters[run_id]:
                    del self._waiters[run_id]
                    del self._notified[run_id]

    def close(self, *, forked: bool = False) -> None:
        """Close the connection; in a forked child only forget it (it is the parent's).

        psycopg2 does not close a connection garbage-collected in another process."""
        with self._cond:
            conn, self._conn = self._conn, None
        if conn is not None and not forked:
            conn.close()

    def _wait_for_notification(self, run_id: str, seen: int, deadline: float) -> bool:
        """Wait until `run_id` is notified after `seen`; False if the deadline passes."""
        with self._cond:
            while self._notified[run_id] == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._reading:
                    self._cond.wait(remaining)
                    continue
                self._ensure_listening()
                conn = self._conn
                self._reading = True
                self._cond.release()
                try:
                    payloads = self._read(conn, remaining)
                finally:
                    self._cond.acquire()
                    self._reading = False
                    self._cond.notify_all()
                for payload in payloads:
                    if payload in self._notified:
                        self._notified[payload] += 1
            return True

    def _read(self, conn: Any, timeout: float) -> list[str]:
        import psycopg2

        try:
            if not conn.notifies:
                select.select([conn], [], [], timeout)
            conn.poll()
        except (psycopg2.Error, OSError, ValueError) as exc:
            # ValueError: the connection was closed (fileno() == -1) by close().
            with self._cond:
                if self._conn is conn:
                    self._conn = None
            _close_quietly(conn)
            raise NotifyUnavailable(f"LISTEN connection lost: {exc}") from exc
        payloads = [notify.payload for notify in conn.notifies]
        del conn.notifies[:]
        return payloads

    def _ensure_listening(self) -> None:
        # Called with self._cond held.
        if self._conn is not None:
            return
        import psycopg2

        try:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except psycopg2.Error as exc:
            raise NotifyUnavailable(f"cannot LISTEN {CHANNEL}: {exc}") from exc
        self._conn = conn


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass
