"""A submit's PostgreSQL NOTIFYs, sent after its commit from a thread of their own.

PostgreSQL serializes every committing transaction that has called NOTIFY on one lock
for the whole server (PreCommit_Notify takes it; it is held through the commit's WAL
flush). Run workers notify with each event they store, so in a burst of 500 submits
beside 50 run workers a submit's one-statement move to QUEUED waited 50 ms on average,
130 ms at worst, in that queue (pg_stat_activity: wait event Lock/object on pg_database),
of a 60 ms request. Without a NOTIFY its commit does not queue there: the move commits,
the request answers, and this thread then sends the notifications the move would have
sent (the run's event channel and the run queue's wake-up), several submits' at once,
in a transaction that writes nothing and so does not wait for a WAL flush while it holds
the lock.

A notification lost with its process (killed between the commit and the send) delays
nothing for long: the daemon's run queue and event waiters also poll.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from opgraph_storage.daemon_notify import RUN_QUEUE_CHANNEL
from opgraph_storage.pg_notify import CHANNEL

log = logging.getLogger(__name__)

# One round trip on the notifier's own connection: a pooled checkout, BEGIN and COMMIT
# through SQLAlchemy cost the webserver about 1 ms of CPU per send, half a submit's.
_NOTIFY = f"""
    SELECT count(pg_notify('{CHANNEL}', run_id)), pg_notify('{RUN_QUEUE_CHANNEL}', '')
    FROM unnest(%s::text[]) AS run_id
"""


class AfterCommitNotifier:
    """Queues the run ids of committed moves to QUEUED; one thread per process sends them."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # a new psycopg2 connection, outside the pool
        self._conn: Any = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: list[str] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        # A process that exits right after a submit (a CLI command) sends what it has.
        atexit.register(_flush_at_exit, weakref.ref(self))

    def add(self, run_id: str) -> None:
        """Notify for `run_id` soon (its move has committed)."""
        with self._lock:
            self._after_fork()
            self._pending.append(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="opgraph-after-commit-notify", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        """Send what is queued now, in the calling thread."""
        with self._send_lock:
            with self._lock:
                self._after_fork()
                run_ids, self._pending = self._pending, []
            if run_ids:
                self._send(list(dict.fromkeys(run_ids)))

    def close(self) -> None:
        """Send what is queued and close the connection (a later add opens another)."""
        self.flush()
        with self._send_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _after_fork(self) -> None:
        # A forked child: the thread, the queue and the connection are the parent's.
        if os.getpid() != self._pid:
            self._pid, self._pending, self._thread, self._conn = os.getpid(), [], None, None
            self._wake = threading.Event()

    def _run(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            wake.clear()
            self.flush()

    def _send(self, run_ids: list[str]) -> None:
        try:
            if self._conn is None:
                conn = self._connect()
                conn.autocommit = True
                with conn.cursor() as cursor:
                    # This connection writes no data, only notifications: nothing to lose
                    # to an unflushed commit, and the server-wide lock is not held through
                    # a WAL flush.
                    cursor.execute("SET synchronous_commit = off")
                self._conn = conn
            with self._conn.cursor() as cursor:
                cursor.execute(_NOTIFY, (run_ids,))
        except Exception as exc:  # the database is down: the daemon's polling finds them
            log.warning("could not notify %d queued runs: %s", len(run_ids), exc)
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass


def _flush_at_exit(ref: weakref.ref[AfterCommitNotifier]) -> None:
    notifier = ref()
    if notifier is not None:
        notifier.flush()
