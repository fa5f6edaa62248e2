"""The daemon: scheduler, sensors, run queue, run monitoring, run retries and retention,
and the parts plugins add (`opgraph.daemon_parts`, e.g. the Celery step sweeper), each a
`DaemonPart` with a `tick(now)`; one active daemon holds the lease (controller.py),
another can wait as a hot standby.

    parts = build_parts(instance, workspace, daemon_id)
    Daemon(instance, parts, daemon_id).run(stop_event)
"""

from __future__ import annotations

from opgraph.daemon.controller import Daemon, build_parts, new_daemon_id
from opgraph.daemon.part import DaemonPart, TickReport

__all__ = ["Daemon", "DaemonPart", "TickReport", "build_parts", "new_daemon_id"]
