"""A PostgreSQL session as a sign of life that a process cannot fake and that ends with it.

A heartbeat row tells that a process was alive when it last wrote; only its age tells
that it died, so a reader must wait a few beats before it concludes, and a process frozen
by a loaded machine looks the same as a dead one. A session is different: when a process
dies (SIGKILL included), its kernel closes its sockets, and the server ends the session at
once. A process that is merely slow keeps it. So a process holds one idle session, puts
its token in its heartbeat, and a reader asks the server which of the tokens it knows
still have a session.

A token is the session's backend pid and start time (as epoch seconds: the same text for
every reader, whatever its time zone), so a pid the server reused is not mistaken for it.
A process forked after it opened the session inherits the socket; a worker's pool
processes end with their worker's main process, so this only delays, never fakes, the end.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_OWN_TOKEN = (
    "SELECT pg_backend_pid()::text || '@' || extract(epoch FROM backend_start)::text "
    "FROM pg_stat_activity WHERE pid = pg_backend_pid()"
)
_OPEN_TOKENS = sa.text(
    "SELECT pid::text || '@' || extract(epoch FROM backend_start)::text "
    "FROM pg_stat_activity WHERE pid = ANY(:pids)"
)


class HeldSession:
    """One idle session, held open for as long as the process lives."""

    def __init__(self, connect: Callable[[], Any]):
        self._connection = connect()
        try:
            self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute(_OWN_TOKEN)
                self.token: str = cursor.fetchone()[0]
        except BaseException:
            self._connection.close()
            raise

    def is_open(self) -> bool:
        """Whether the server still holds the session: an idle session's socket has
        something to read only once the server said goodbye or the link broke (one
        non-blocking poll, no round trip)."""
        if self._connection.closed:
            return False
        poller = select.poll()
        try:
            poller.register(self._connection.fileno(), select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self._connection.close()


def open_tokens(conn: Connection, tokens: Iterable[str]) -> set[str]:
    """Which of `tokens` (HeldSession.token) still name a session of the server."""
    wanted = set(tokens)
    pids = sorted({int(pid) for pid, _, _ in (t.partition("@") for t in wanted) if pid.isdigit()})
    if not pids:
        return set()
    found = conn.execute(_OPEN_TOKENS, {"pids": pids}).scalars()
    return wanted.intersection(found)
