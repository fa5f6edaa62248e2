"""`opgraph`: the command line (console script, and `python -P -m opgraph_app`).

`opgraph --help` and `opgraph --version` import click and nothing else of weight: the
table below names each command group's module, which is imported only when that group
runs or shows its own help. Building the whole app for a help screen (Flask, graphene,
SQLAlchemy, Celery) took longer than importing opgraph itself (benchmarks/cli.py).

The command groups (runs, instance, daemon, workers, locations, schedules, sensors, assets,
backfill) serve no web app and import no Flask: they run with a `CommandContext` as
click's context object, which reads the instance from OPGRAPH_HOME/instance.yaml when a
command first asks (app/cli_context.py). Only the commands that serve something keep
Flask's way: `webserver`, `dev` and `code-server` run in a bare app holding only the
opgraph extension, and Flask's own commands (run, shell, routes), under `opgraph flask
...`, in the whole `opgraph_app.create_app`; both through a `ScriptInfo` whose factory is
ours, never looked up from the working directory (a user's own `app.py` is not ours).
`flask --app opgraph_app runs ...` keeps working: `create_app` registers the same command
objects on `app.cli` from this table, and there they run in the app's context.
"""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

import click

if TYPE_CHECKING:
    from flask import Flask


class LazyCommand(NamedTuple):
    module: str
    attribute: str
    short_help: str  # what `opgraph --help` shows without importing `module`


# `opgraph --help` lists these; tests/app/test_cli_main.py checks each short help against
# the command's own.
COMMANDS: dict[str, LazyCommand] = {
    "runs": LazyCommand(
        "opgraph_app.cli_runs",
        "runs_cli",
        "List, inspect, follow, export, launch, re-execute, cancel and delete runs.",
    ),
    "instance": LazyCommand(
        "opgraph_app.cli_instance", "instance_cli", "Inspect the instance and migrate its storage."
    ),
    "daemon": LazyCommand(
        "opgraph_app.cli_daemon",
        "daemon_cli",
        "Run the daemon (schedules, sensors, run queue, ...).",
    ),
    "workers": LazyCommand(
        "opgraph_app.cli_workers", "workers_cli", "List, ping, drain and start Celery workers."
    ),
    "code-server": LazyCommand(
        "opgraph_app.cli_code_server",
        "code_server_command",
        "Load one code location and answer for it over HTTP/JSON (see docs/code-locations.md).",
    ),
    "dev": LazyCommand(
        "opgraph_app.cli_dev",
        "dev_command",
        "Run the webserver, the daemon, the code servers and Celery workers here.",
    ),
    "webserver": LazyCommand(
        "opgraph_app.cli_webserver",
        "webserver_command",
        "Serve the UI and /graphql with gunicorn (gevent worker).",
    ),
    "locations": LazyCommand(
        "opgraph_app.cli_locations",
        "locations_cli",
        "List and reload the workspace's code locations.",
    ),
    "schedules": LazyCommand(
        "opgraph_app.cli_schedules", "schedules_cli", "List, start, stop and preview schedules."
    ),
    "assets": LazyCommand(
        "opgraph_app.cli_assets",
        "assets_cli",
        "List, show, materialize and wipe assets, and see their partitions.",
    ),
    "backfill": LazyCommand(
        "opgraph_app.cli_backfill",
        "backfill_cli",
        "Launch, list, show, cancel and resume backfills.",
    ),
    "sensors": LazyCommand(
        "opgraph_app.cli_schedules",
        "sensors_cli",
        "List, start and stop sensors; show or set cursors.",
    ),
}
FLASK_GROUP = "flask"
FLASK_GROUP_HELP = "Flask's own commands for the opgraph app: run, shell, routes."
# The lone commands that serve something, and run in an app context as under FlaskGroup.
APP_COMMANDS = frozenset({"webserver", "dev", "code-server"})


def load_command(name: str) -> click.Command:
    entry = COMMANDS[name]
    command: click.Command = getattr(importlib.import_module(entry.module), entry.attribute)
    return command


def _create_app() -> Flask:
    from opgraph_app import create_app

    return create_app()


def _command_app() -> Flask:
    """The app opgraph's own commands run in: the opgraph extension and nothing else."""
    from flask import Flask

    from opgraph_app.extension import OpgraphExtension

    app = Flask("opgraph_app")
    app.extensions["opgraph"] = OpgraphExtension(None)
    return app


def _context_object(cmd_name: str) -> object:
    """What the command finds as click's context object (`ctx.obj`)."""
    if cmd_name == FLASK_GROUP or cmd_name in APP_COMMANDS:
        # What Flask's `with_appcontext` and `pass_script_info` look for in the context.
        from flask.cli import ScriptInfo

        factory = _create_app if cmd_name == FLASK_GROUP else _command_app
        return ScriptInfo(create_app=factory, set_debug_flag=False)
    from opgraph_app.cli_context import CommandContext

    return CommandContext()


def _flask_group() -> click.Group:
    from flask.cli import routes_command, run_command, shell_command

    group = click.Group(FLASK_GROUP, help=FLASK_GROUP_HELP)
    for command in (run_command, shell_command, routes_command):
        group.add_command(command)
    return group


class OpgraphCLI(click.Group):
    """A click group that lists its commands from `COMMANDS` and imports one on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*sorted(COMMANDS), FLASK_GROUP]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS and cmd_name != FLASK_GROUP:
            return None
        if ctx.obj is None:
            ctx.obj = _context_object(cmd_name)
        if cmd_name == FLASK_GROUP:
            return _flask_group()
        command = load_command(cmd_name)
        callback = command.callback
        if cmd_name not in APP_COMMANDS or callback is None:
            return command  # a CommandGroup: each of its commands enters its context
        # A lone command gets the app context when it runs, as FlaskGroup would give it
        # (not for its --help: that builds no app).
        from flask.cli import with_appcontext

        command = copy.copy(command)
        command.callback = with_appcontext(callback)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lays them out, from the table instead of the imported commands."""
        helps = {name: entry.short_help for name, entry in COMMANDS.items()}
        helps[FLASK_GROUP] = FLASK_GROUP_HELP
        limit = formatter.width - 6 - max(len(name) for name in helps)
        rows = [
            (name, click.Command(name, help=helps[name]).get_short_help_str(limit))
            for name in sorted(helps)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _version() -> str:
    from importlib.metadata import version

    return version("opgraph")


def _print_version(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"opgraph {_version()}")
        ctx.exit()


main = OpgraphCLI(
    "opgraph",
    help="Orchestrate op graphs: runs, the instance, the daemon, workers and the webserver.",
    params=[
        click.Option(
            ["--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_print_version,
            help="Show opgraph's version and exit.",
        )
    ],
)
