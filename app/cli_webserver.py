"""`opgraph webserver`: the production webserver (gunicorn) with opgraph's defaults.

The same as `gunicorn 'opgraph_app:create_app()' --bind 127.0.0.1:3000 --worker-class
opgraph_app.gunicorn_worker.OpgraphGeventWorker`, with host and port from instance.yaml
(`webserver.host`, `webserver.port`), `--read-only` and the serving limits of
docs/security.md. gevent, not threads: a live event stream (/runs/<id>/events) waits as a
greenlet, so hundreds of viewers do not take the workers /health and /graphql need.

It refuses to listen beyond loopback without a mutation token (`webserver.auth_token`)
unless `--read-only` or `--insecure` (OPGRAPH_INSECURE=1) says that is meant.

Its workers use the C allocator (PYTHONMALLOC=malloc; see `app/memory.py` for why): the
command re-executes itself once with it set, unless PYTHONMALLOC is already given.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from flask import Flask

from opgraph_app.cli_context import WORKSPACE_ENV
from opgraph_app.extension import current_instance
from opgraph_app.hosts import is_loopback
from opgraph_app.logging_setup import configure_logging, gunicorn_logconfig

_F = TypeVar("_F", bound=Callable[..., object])
GEVENT_WORKER = "opgraph_app.gunicorn_worker.OpgraphGeventWorker"
# Set in the environment of the re-executed command only, so that it can drop
# PYTHONMALLOC again: run workers the webserver launches inherit its environment.
_MALLOC_SET_BY_US = "OPGRAPH_WEBSERVER_MALLOC"


def _run_with_c_allocator() -> None:
    """Re-execute this very command line with PYTHONMALLOC=malloc, unless already done.

    Under pymalloc a worker stayed 30-40 % above its steady size after heavy answers
    whatever `malloc_trim` did: a few hundred KB of long-lived objects created during a
    request (type-cache names, SQLAlchemy memos) pin its 1 MiB arenas, which pymalloc
    returns only when empty. With every object in glibc's heap, `malloc_trim` gives
    back each free page (app/memory.py). The allocator is chosen when the interpreter
    starts and gunicorn's workers are forks of this process, hence the re-exec here.
    """
    if os.environ.pop(_MALLOC_SET_BY_US, None):
        os.environ.pop("PYTHONMALLOC", None)  # this process has it; its children need not
        return
    if "PYTHONMALLOC" in os.environ:
        return  # the operator chose an allocator
    try:  # the interpreter's own argv: `python -P -m opgraph_app ...`, `-m flask ...`, ...
        argv = Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return  # not Linux: no malloc_trim either (app/memory.py), so nothing to gain
    if b"webserver" not in argv:
        return  # called from Python (a test's CliRunner), not from a command line
    env = {**os.environ, "PYTHONMALLOC": "malloc", _MALLOC_SET_BY_US: "1"}
    try:
        os.execve(sys.executable, [sys.executable, *(a.decode() for a in argv[1:])], env)
    except OSError:
        pass  # an interpreter that cannot be re-run: serve with pymalloc


def _count_option(flag: str, minimum: int, default: int, help: str) -> Callable[[_F], _F]:
    return click.option(
        flag, type=click.IntRange(min=minimum), default=default, show_default=True, help=help
    )


@click.command("webserver")
@click.option("--host", help="Interface to bind; default webserver.host (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Default webserver.port (3000).")
@_count_option("--workers", 1, 1, "Worker processes.")
@click.option(
    "--worker-class",
    type=click.Choice(["gevent", "gthread"]),
    default="gevent",
    show_default=True,
    help="gthread holds a thread per live stream: use it only where gevent cannot run.",
)
@_count_option("--threads", 1, 16, "Threads per worker (gthread only).")
@_count_option(
    "--connections",
    10,
    2000,
    "Open connections per worker (live streams included; see webserver.max_streams).",
)
@_count_option(
    "--header-timeout",
    1,
    5,
    "Seconds a client has to send a request's headers (slow clients are cut off).",
)
@_count_option(
    "--max-requests",
    0,
    0,
    "Restart a worker after this many requests (with 10 % jitter); 0: never.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="A Host header to answer (repeatable; `*.example.com`, `*` for any). "
    "Default: webserver.allowed_hosts, else the loopback names when bound to loopback.",
)
@click.option("--read-only", is_flag=True, help="Refuse every mutation (launch, cancel, ...).")
@click.option(
    "--insecure",
    is_flag=True,
    envvar="OPGRAPH_INSECURE",
    help="Listen beyond loopback without a mutation token (OPGRAPH_INSECURE=1).",
)
@click.option(
    "-w",
    "--workspace",
    type=click.Path(exists=True, dir_okay=False),
    help=f"workspace.yaml (default: ${WORKSPACE_ENV}, else OPGRAPH_HOME/workspace.yaml).",
)
def webserver_command(
    host: str | None,
    port: int | None,
    workers: int,
    worker_class: str,
    threads: int,
    connections: int,
    header_timeout: int,
    max_requests: int,
    allowed_hosts: tuple[str, ...],
    read_only: bool,
    insecure: bool,
    workspace: str | None,
) -> None:
    """Serve the UI and /graphql with gunicorn (gevent worker)."""
    from gunicorn.app.base import BaseApplication

    settings = current_instance().config.webserver
    bind_host = host or settings.host
    bind = f"{bind_host}:{port or settings.port}"
    read_only = read_only or settings.read_only
    if not is_loopback(bind_host) and not settings.auth_token and not read_only and not insecure:
        raise click.UsageError(
            f"refusing to serve on {bind_host} (beyond loopback) without a mutation token: "
            "anyone who reaches it could launch and delete runs. Set webserver.auth_token "
            "in instance.yaml (e.g. auth_token: ${OPGRAPH_AUTH_TOKEN} and "
            "OPGRAPH_AUTH_TOKEN=$(openssl rand -hex 32)), or add --read-only, or, if a proxy "
            "in front already guards it, --insecure (OPGRAPH_INSECURE=1)."
        )
    _run_with_c_allocator()
    if workspace:
        os.environ[WORKSPACE_ENV] = os.path.abspath(workspace)

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, object] = {
                "bind": bind,
                "workers": workers,
                "worker_class": GEVENT_WORKER if worker_class == "gevent" else "gthread",
                "threads": threads,
                "worker_connections": connections,
                "keepalive": header_timeout,  # the gevent worker's bound on reading headers
                "timeout": 120,
            }
            if max_requests:
                options |= {"max_requests": max_requests, "max_requests_jitter": max_requests // 10}
            logconfig = gunicorn_logconfig()  # JSON logs: OPGRAPH_LOG_FORMAT=json
            if logconfig is not None:
                options["logconfig_dict"] = logconfig
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            from opgraph_app import create_app

            return create_app(
                read_only=read_only,
                bind_host=bind_host,
                allowed_hosts=list(allowed_hosts) or None,
            )

    banner = f"opgraph webserver on http://{bind}" + (" (read-only)" if read_only else "")
    if configure_logging("webserver"):  # OPGRAPH_LOG_FORMAT=json: every line is JSON
        logging.getLogger("opgraph.webserver").info(banner)
    else:
        click.echo(banner)
    _Server().run()
