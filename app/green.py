"""psycopg2 under gevent: make its waits cooperative when gevent has patched this process.

gunicorn's gevent worker monkey-patches sockets, threads and `select`, but psycopg2 talks
to PostgreSQL through libpq's own sockets: without a wait callback a 50 ms query would
stop every greenlet of the worker (all live streams, /health) for 50 ms.
"""

from __future__ import annotations

import sys


def gevent_active() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def make_psycopg_green() -> bool:
    """Install psycogreen's wait callback if gevent is active; True if it is installed."""
    if not gevent_active():
        return False
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    return True
