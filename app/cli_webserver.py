"""`opgraph webserver`: the production webserver (gunicorn) with opgraph's defaults.

The same as `gunicorn 'opgraph_app:create_app()' --bind 127.0.0.1:3000 --worker-class gthread`,
with host and port from instance.yaml (`webserver.host`, `webserver.port`) and
`--read-only`. Threads matter: each live event stream (/runs/<id>/events) holds one.
"""

from __future__ import annotations

import logging

import click
from flask import Flask

from opgraph_app.extension import current_instance
from opgraph_app.logging_setup import configure_logging, gunicorn_logconfig
from opgraph_app.workspace import WORKSPACE_ENV


@click.command("webserver")
@click.option("--host", help="Interface to bind; default webserver.host (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Default webserver.port (3000).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--read-only", is_flag=True, help="Refuse every mutation (launch, cancel, ...).")
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
    threads: int,
    read_only: bool,
    workspace: str | None,
) -> None:
    """Serve the UI and /graphql with gunicorn."""
    import os

    from gunicorn.app.base import BaseApplication

    settings = current_instance().config.webserver
    bind = f"{host or settings.host}:{port or settings.port}"
    if workspace:
        os.environ[WORKSPACE_ENV] = os.path.abspath(workspace)

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": bind,
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "timeout": 120,
            }
            logconfig = gunicorn_logconfig()  # JSON logs: OPGRAPH_LOG_FORMAT=json
            if logconfig is not None:
                options["logconfig_dict"] = logconfig
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            from opgraph_app import create_app

            return create_app(read_only=read_only)

    banner = f"opgraph webserver on http://{bind}" + (" (read-only)" if read_only else "")
    if configure_logging("webserver"):  # OPGRAPH_LOG_FORMAT=json: every line is JSON
        logging.getLogger("opgraph.webserver").info(banner)
    else:
        click.echo(banner)
    _Server().run()
