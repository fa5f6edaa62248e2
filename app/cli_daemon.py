"""`opgraph daemon run|status`: the daemon process, and who is active right now."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any

import click

from opgraph import plugins
from opgraph.daemon import Daemon, build_parts, new_daemon_id
from opgraph.daemon.controller import DAEMON_HEARTBEAT, LEASE_NAME
from opgraph.daemon.supervision import PartState, part_state
from opgraph_app.cli_context import current_instance, open_workspace, workspace_path
from opgraph_app.cli_format import CommandGroup, format_table, format_time
from opgraph_app.cli_locations import WORKSPACE_OPTION
from opgraph_app.logging_setup import configure_logging

daemon_cli = CommandGroup("daemon", help="Run the daemon (schedules, sensors, run queue, ...).")
log = logging.getLogger("opgraph.daemon")


@daemon_cli.command("run")
@WORKSPACE_OPTION
def run(workspace_file: str | None) -> None:
    """Run the daemon until SIGTERM/Ctrl-C. Start two for a hot standby: one holds the
    lease and works, the other takes over within `daemon.lease_seconds` if it dies."""
    if not configure_logging("daemon"):  # OPGRAPH_LOG_FORMAT=json: JSON lines instead
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    instance = current_instance()
    instance.ride_out_database_outages()
    daemon_id = new_daemon_id()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    workspace = open_workspace(workspace_path(workspace_file))
    try:
        instance.run_launcher.prepare()  # e.g. the warm zygote run workers fork from
        parts = build_parts(instance, workspace, daemon_id)
        click.echo(f"daemon {daemon_id}: parts {', '.join(p.name for p in parts)}")
        Daemon(instance, parts, daemon_id).run(stop)
    finally:
        workspace.close()
        instance.dispose()
    click.echo(f"daemon {daemon_id}: stopped")


@daemon_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Which daemon is active (host, pid, lease) and each part's state: running, restarting
    (its thread died and was restarted), failing (its last ticks raised), stale (no beat
    within its interval plus the liveness grace), with its last beat's age and last error.
    Exits 1 when no daemon holds the lease."""
    instance = current_instance()
    storage = instance.storage
    now = time.time()
    lease = storage.get_lease(LEASE_NAME)
    active = lease is not None and lease.expires_at > now
    grace = instance.config.liveness.grace_seconds
    fleets = [build(instance) for build in plugins.load_all(plugins.WORKER_FLEETS).values()]
    parts = [
        part_state(beat, now, grace)
        for beat in sorted(storage.get_daemon_heartbeats().values(), key=lambda b: b.daemon_type)
        if not any(fleet.owns_heartbeat(beat.daemon_type) for fleet in fleets)
    ]
    heartbeats: list[dict[str, Any]] = [
        {
            "daemon_type": part.name,
            "daemon_id": part.daemon_id,
            "state": part.state,
            "healthy": part.healthy,
            "timestamp": part.last_beat,
            "seconds_ago": round(part.age_seconds, 1),
            "stale_after_seconds": part.stale_after_seconds,
            "consecutive_failures": part.consecutive_failures,
            "restarts": part.restarts,
            "errors": part.errors,
        }
        for part in parts
    ]
    data = {
        "active": active,
        "lease": None if lease is None else lease.__dict__,
        "heartbeats": heartbeats,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        if lease is None:
            click.echo("No daemon has run yet: start one with `opgraph daemon run`.")
        elif active:
            click.echo(
                f"Active daemon: {lease.holder} on {lease.host} (pid {lease.pid}), since "
                f"{format_time(lease.acquired_at)}, lease renewed {now - lease.renewed_at:.0f}s "
                f"ago (generation {lease.generation})"
            )
        else:
            click.echo(
                f"No active daemon: the lease of {lease.holder} on {lease.host} expired "
                f"{now - lease.expires_at:.0f}s ago. Start one with `opgraph daemon run`."
            )
        rows = [_part_row(part) for part in parts if part.name != DAEMON_HEARTBEAT]
        if rows:
            click.echo(
                format_table(
                    ["PART", "DAEMON", "STATE", "LAST HEARTBEAT", "RESTARTS", "LAST ERROR"], rows
                )
            )
    if not active:
        raise SystemExit(1)


def _part_row(part: PartState) -> list[str]:
    beat = f"{part.age_seconds:.0f}s ago"
    if part.state == "stale":
        beat += f" (due within {part.stale_after_seconds:.0f}s)"
    state = part.state
    if part.consecutive_failures:
        state += f" ({part.consecutive_failures} failed ticks)"
    return [
        part.name,
        part.daemon_id,
        state,
        beat,
        str(part.restarts),
        (part.last_error or "-")[:120],
    ]
