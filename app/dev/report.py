"""What `opgraph dev` prints when everything is up, and when it has stopped."""

from __future__ import annotations

import shlex

from sqlalchemy.engine import make_url

from opgraph_app.dev.client import LocationInfo
from opgraph_app.dev.stack import DevStack


def _storage(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def started(stack: DevStack, locations: list[LocationInfo]) -> None:
    echo = stack.echo
    home = stack.settings.home
    broker = "embedded Redis" if stack.broker else "configured broker"
    echo(f"opgraph dev: home {home}")
    echo(f"  storage  {_storage(stack.instance.config.storage_url(home))}")
    echo(f"  broker   {broker} {stack.broker_url}")
    for service in stack.services:
        log = service.log_path.relative_to(home) if service.log_path.is_relative_to(home) else ""
        echo(f"  {service.name:<14} pid {service.pid:<8} {log}")
    echo(f"  workers consume {', '.join(stack.queues)} ({stack.settings.concurrency} slots each)")
    if not stack.settings.with_daemon:
        echo("  daemon   not started (schedules, sensors and the run queue are idle)")
    for location in locations:
        jobs = ", ".join(location.jobs) or "no jobs"
        detail = f"error: {location.error}" if location.error else jobs
        echo(f"  code location {location.name}: {location.state} ({detail})")
    echo(f"\nopgraph UI: {stack.url}")
    if stack.settings.broker is not None or stack.broker:
        # Chosen here, not in instance.yaml: a run launched from another shell must publish
        # its steps where these workers consume (else they wait, and the run says so).
        echo(
            "other shells (`opgraph runs launch`, `opgraph workers`): export "
            f"OPGRAPH_HOME={shlex.quote(str(home))} "
            f"OPGRAPH_CELERY_BROKER_URL={shlex.quote(stack.broker_url)}"
        )


def stopped(stack: DevStack, leftovers: list[int]) -> None:
    extra = f" and {len(leftovers)} processes they left" if leftovers else ""
    running = stack.pids()
    if running:  # cannot happen unless a process ignores SIGKILL (stuck in the kernel)
        stack.echo(f"opgraph dev: still running after stop: pids {running}")
        return
    stack.echo(f"opgraph dev: stopped {len(stack.services)} services{extra}; nothing left running")
