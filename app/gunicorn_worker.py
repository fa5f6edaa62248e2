"""gunicorn's gevent worker with opgraph's socket timeout.

Under the gevent worker a connection costs a greenlet, not a thread, so slow clients and
live streams no longer starve /health. Two deadlines keep them from piling up:

- the request line and headers must arrive within gunicorn's `keepalive` seconds (the
  gevent worker bounds each request read by it; `opgraph webserver --header-timeout`);
- every later read or write (a request body, a live stream to a client that stopped
  reading) gives up after SOCKET_TIMEOUT_SECONDS of silence.

A client that goes away does not leave its query running: while a request's greenlet
waits on a PostgreSQL statement, a watcher greenlet waits on the client's socket, and if
the client closes it the statement is cancelled (libpq's cancel request, as
`pg_cancel_backend` does). The request then ends with the cancelled statement's error,
written to nobody. Before, a 200-tag runs filter left its backend running for minutes
after the client gave up.

Once the app is loaded its objects are frozen out of garbage collection (app/memory.py):
a full collection would otherwise stop every greenlet for 100-170 ms.
"""

from __future__ import annotations

import logging
import socket
from typing import Any
from weakref import WeakKeyDictionary

import gevent
from gevent.socket import wait_read
from greenlet import greenlet
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from opgraph_app.memory import freeze_loaded_objects

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 30.0  # twice the live streams' keep-alive interval (15 s)

# The client socket of each request greenlet, and the watcher of its running statement.
_clients: WeakKeyDictionary[greenlet, Any] = WeakKeyDictionary()
_watchers: WeakKeyDictionary[greenlet, gevent.Greenlet] = WeakKeyDictionary()


class OpgraphGeventWorker(GeventWorker):  # type: ignore[misc]
    def load_wsgi(self) -> None:
        super().load_wsgi()
        freeze_loaded_objects()
        if not event.contains(Engine, "before_cursor_execute", _watch_client):
            event.listen(Engine, "before_cursor_execute", _watch_client)
            event.listen(Engine, "after_cursor_execute", _stop_watching)
            event.listen(Engine, "handle_error", _stop_watching_on_error)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        # GeventWorker.handle makes the socket blocking without a timeout; keep one instead.
        client.settimeout(SOCKET_TIMEOUT_SECONDS)
        AsyncWorker.handle(self, listener, client, addr)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        current = gevent.getcurrent()
        _clients[current] = sock
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            _clients.pop(current, None)


def _watch_client(conn: Connection, *_: Any) -> None:
    current = gevent.getcurrent()
    client = _clients.get(current)
    dbapi_connection = conn.connection.dbapi_connection
    if client is None or not hasattr(dbapi_connection, "cancel"):  # SQLite cannot be
        return
    _watchers[current] = gevent.spawn(_cancel_when_gone, client, dbapi_connection)


def _stop_watching(*_: Any) -> None:
    watcher = _watchers.pop(gevent.getcurrent(), None)
    if watcher is not None:
        watcher.kill(block=False)


def _stop_watching_on_error(_context: Any) -> None:
    _stop_watching()


def _cancel_when_gone(client: Any, dbapi_connection: Any) -> None:
    """Cancel the statement if the client closes its connection while it runs.

    The request body was read before any statement ran, so the socket turns readable
    only at end of file, or when a client pipelines its next request (then nothing is
    cancelled)."""
    try:
        wait_read(client.fileno())
        if client.recv(1, socket.MSG_PEEK) != b"":
            return
    except OSError:  # reset by the peer: gone as well
        pass
    log.info("the client went away: cancelling its running statement")
    dbapi_connection.cancel()
