"""`opgraph workers ...`: watch and steer the Celery worker fleet."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from opgraph_app.cli_context import current_instance
from opgraph_app.cli_format import CommandGroup, format_table

workers_cli = CommandGroup("workers", help="List, ping, drain and start Celery workers.")


@contextmanager
def _app() -> Iterator[Any]:
    """The instance's Celery app, its broker connections closed afterwards."""
    from opgraph_celery.celery_app import instance_celery_config, make_celery_app

    app = make_celery_app(instance_celery_config(current_instance().home))
    try:
        yield app
    finally:
        app.close()


def _age(timestamp: float | None) -> str:
    return "-" if timestamp is None else f"{time.time() - timestamp:.0f}s ago"


@workers_cli.command("list")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also workers silent for over 10 minutes (stopped or dead: every heartbeat on record).",
)
def list_workers(timeout: float, as_json: bool, show_all: bool) -> None:
    """Workers: queues, concurrency, the ops they run now, last heartbeat. Workers that
    do not answer are listed until their last heartbeat is 10 minutes old (--all: always)."""
    from opgraph_celery.fleet import SILENT_LISTED
    from opgraph_celery.fleet import list_workers as fleet_workers

    with _app() as app:
        silent_for = None if show_all else SILENT_LISTED
        workers = fleet_workers(app, current_instance().storage, timeout, silent_for)
    if as_json:
        click.echo(json.dumps([w.to_json() for w in workers], indent=2))
        return
    if not workers:
        click.echo("No workers answered. Start one with: opgraph workers start")
        return
    rows = [
        [
            w.name,
            ",".join(w.queues) or "-",
            str(w.concurrency or "-"),
            "; ".join(f"{op.step_key} ({op.run_id[:8]})" for op in w.active) or "idle",
            _age(w.last_heartbeat),
            "yes" if w.responding else "NO",
        ]
        for w in workers
    ]
    click.echo(format_table(["WORKER", "QUEUES", "SLOTS", "RUNNING", "HEARTBEAT", "ANSWERS"], rows))


@workers_cli.command("queues")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def queues(timeout: float, as_json: bool) -> None:
    """Messages waiting per queue and the workers consuming each."""
    from opgraph_celery.fleet import list_queues
    from opgraph_celery.fleet import list_workers as fleet_workers

    with _app() as app:
        found = list_queues(app, fleet_workers(app, current_instance().storage, timeout))
    if as_json:
        click.echo(json.dumps([q.to_json() for q in found], indent=2))
        return
    rows = [
        [q.name, "?" if q.depth is None else str(q.depth), ",".join(q.consumers) or "NONE"]
        for q in found
    ]
    click.echo(format_table(["QUEUE", "WAITING", "CONSUMERS"], rows))


@workers_cli.command("ping")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30))
def ping(timeout: float) -> None:
    """Ask every worker to answer; exit 1 if none does."""
    from opgraph_celery.fleet import ping as fleet_ping

    with _app() as app:
        replies = fleet_ping(app, timeout)
    if not replies:
        click.echo("No worker answered.", err=True)
        raise SystemExit(1)
    for name in sorted(replies):
        click.echo(f"{name}: pong")


@workers_cli.command("drain")
@click.argument("worker")
def drain(worker: str) -> None:
    """Stop WORKER (its node name, e.g. w1@host) taking new ops; it finishes current ones."""
    from opgraph_celery.fleet import drain as fleet_drain

    if "@" not in worker:
        raise click.BadParameter(
            f"expected a worker node name like w1@{os.uname().nodename}, got {worker!r}; "
            "see `opgraph workers list`",
            param_hint="WORKER",
        )
    with _app() as app:
        stopped = fleet_drain(app, worker)
    if not stopped:
        click.echo(f"Worker {worker} did not answer or consumes no queue.", err=True)
        raise SystemExit(1)
    click.echo(f"{worker} stopped consuming {', '.join(stopped)}; it finishes the ops it runs.")


@workers_cli.command(
    "start", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option(
    "-Q", "--queues", default=None, help="Comma-separated queues (default: the instance's)."
)
@click.option("-c", "--concurrency", default=None, type=click.IntRange(1, 512))
@click.option("-n", "--name", "node_name", default=None, help="Node name, e.g. w1@%h.")
@click.pass_context
def start(
    ctx: click.Context, queues: str | None, concurrency: int | None, node_name: str | None
) -> None:
    """Start a worker in the foreground: `python -m opgraph_celery.worker ...` (as
    `celery -A opgraph_celery worker ...`, without Celery's command line to import; any
    option it does not know goes to Celery's own)."""
    home = current_instance().home
    from opgraph_celery.celery_app import instance_celery_config

    command = [sys.executable, "-P", "-m", "opgraph_celery.worker"]
    command += ["-Q", queues or instance_celery_config(home).default_queue]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if node_name:
        command += ["-n", node_name]
    command += list(ctx.args)
    os.environ["OPGRAPH_HOME"] = str(home)
    click.echo(" ".join(command), err=True)
    os.execv(sys.executable, command)
