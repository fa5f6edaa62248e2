"""`opgraph code-server` / `flask code-server`: serve one code location over HTTP/JSON."""

from __future__ import annotations

import os
from pathlib import Path

import click

from opgraph.logs import configure_logging
from opgraph_app.code_server.serve import CannotListen, serve


@click.command("code-server")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "-f",
    "--python-file",
    type=click.Path(dir_okay=False),
    help="Python file holding the location's Definitions.",
)
@click.option("-m", "--module-name", help="Importable module holding the Definitions.")
@click.option("-a", "--attribute", help="Name of the Definitions, if the module has several.")
@click.option(
    "-d",
    "--working-directory",
    type=click.Path(file_okay=False),
    help="Put on sys.path; default: the current directory.",
)
@click.option("--location-name", help="Default: the file name without .py, or the module.")
@click.option("--port-file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--parent-pid", type=int, hidden=True)
def code_server_command(
    port: int,
    host: str,
    python_file: str | None,
    module_name: str | None,
    attribute: str | None,
    working_directory: str | None,
    location_name: str | None,
    port_file: str | None,
    parent_pid: int | None,
) -> None:
    """Load one code location and answer for it over HTTP/JSON (see docs/code-locations.md).

    Give exactly one of -f/--python-file and -m/--module-name."""
    if bool(python_file) == bool(module_name):
        raise click.UsageError(
            "give exactly one of -f/--python-file FILE or -m/--module-name MODULE, e.g. "
            "`opgraph code-server --port 4000 -f jobs.py`"
        )
    configure_logging("code_server")  # JSON when OPGRAPH_LOG_FORMAT=json
    directory = str(Path(working_directory or os.getcwd()).resolve())
    origin: dict[str, str]
    if python_file:
        origin = {"python_file": str(Path(python_file).resolve()), "working_directory": directory}
        name = location_name or Path(python_file).stem
    else:
        origin = {"python_module": str(module_name), "working_directory": directory}
        name = location_name or str(module_name)
    if attribute:
        origin["attribute"] = attribute
    try:
        serve(name, origin, host, port, Path(port_file) if port_file else None, parent_pid)
    except CannotListen as exc:
        raise click.ClickException(f"{exc}; choose another --port") from None
