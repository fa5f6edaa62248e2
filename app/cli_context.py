"""What opgraph's commands run with: the instance and the workspace, with or without Flask.

The same command objects serve two entry points; only what provides their context differs:

- `opgraph ...` (app/cli.py) hands each command group a `CommandContext` as click's context
  object. It reads the instance from OPGRAPH_HOME/instance.yaml when a command first asks,
  and imports neither Flask nor the webserver: `opgraph runs launch` used to spend about
  110 ms importing Flask and Werkzeug only to push an app context it never needed.
- `flask --app opgraph_app ...` (and `app.test_cli_runner()`) run the same commands in the
  app's context, as Flask's `AppGroup` gave it: the instance and workspace are those of
  the app's opgraph extension (`create_app(instance, workspace)`).

Commands reach both through `current_instance()`, `current_workspace()` and
`open_workspace()` here, never through `flask.current_app`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance
    from opgraph.workspace.base import Workspace

WORKSPACE_ENV = "OPGRAPH_WORKSPACE"  # here, not in opgraph_app.workspace: that imports Flask
F = TypeVar("F", bound=Callable[..., Any])


class ContextSource(Protocol):
    """A `CommandContext`, or under Flask the app's `OpgraphExtension`."""

    workspace: Any

    @property
    def instance(self) -> OpgraphInstance: ...


class CommandContext:
    """The click context object of `opgraph`'s commands: Flask's app context, without Flask."""

    def __init__(self, instance: OpgraphInstance | None = None, workspace: Any = None) -> None:
        self._instance = instance
        self.workspace = workspace  # a Workspace once a command asks for it

    @property
    def instance(self) -> OpgraphInstance:
        # Lazily: a command's --help and its usage errors read no instance.yaml.
        if self._instance is None:
            from opgraph.instance import OpgraphInstance

            self._instance = OpgraphInstance.get()
        return self._instance


def _flask_app_running() -> bool:
    """Whether a Flask app context is active. Flask is looked for, never imported here:
    if no one imported it, no app can be running."""
    if "flask" not in sys.modules:
        return False
    from flask import current_app

    return bool(current_app)


def enter(ctx: click.Context) -> None:
    """Make sure the command of `ctx` has its context, as Flask's `with_appcontext` does."""
    if ctx.find_object(CommandContext) is not None or _flask_app_running():
        return
    if "flask.cli" in sys.modules:
        from flask.cli import ScriptInfo

        info = ctx.find_object(ScriptInfo)
        if info is not None:  # `flask --app opgraph_app`, `app.test_cli_runner()`
            ctx.with_resource(info.load_app().app_context())
            return
    ctx.ensure_object(CommandContext)  # a bare click call (CliRunner().invoke(runs_cli))


def with_cli_context(f: F) -> F:
    """Run a command's callback in its context (what `flask.cli.with_appcontext` did)."""

    @click.pass_context
    def run(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        enter(ctx)
        return ctx.invoke(f, *args, **kwargs)

    return update_wrapper(run, f)  # type: ignore[return-value]


def context_source() -> ContextSource:
    ctx = click.get_current_context(silent=True)
    ours = ctx.find_object(CommandContext) if ctx is not None else None
    if ours is not None:
        return ours
    if _flask_app_running():
        from flask import current_app

        extension: ContextSource = current_app.extensions["opgraph"]
        return extension
    raise RuntimeError(
        "opgraph's commands need their context: run them as `opgraph ...` or "
        "`flask --app opgraph_app ...`, or wrap the callback in with_cli_context"
    )


def current_instance() -> OpgraphInstance:
    return context_source().instance


def workspace_path(given: str | None = None) -> Path | None:
    """`--workspace`, else $OPGRAPH_WORKSPACE, else None (OPGRAPH_HOME/workspace.yaml)."""
    value = given or os.environ.get(WORKSPACE_ENV)
    return Path(value).resolve() if value else None


def load_instance_workspace(
    instance: OpgraphInstance, path: Path | None = None, only: list[str] | None = None
) -> Workspace:
    """A workspace for `instance`, in step with reloads made elsewhere (its reload
    requests in storage): the command context's and the web app's alike."""
    from opgraph.workspace.load import load_workspace
    from opgraph.workspace.reload_requests import ReloadRequests

    return load_workspace(
        path or workspace_path(),
        instance.home,
        reload_requests=ReloadRequests(instance.storage),
        only=only,
    )


def open_workspace(path: Path | None = None, only: list[str] | None = None) -> Workspace:
    """A workspace for the command's instance, in step with reloads made elsewhere."""
    return load_instance_workspace(current_instance(), path, only)


def current_workspace() -> Workspace:
    """The context's workspace, loaded on first use (a test's app may hand one in)."""
    source = context_source()
    if source.workspace is None:
        source.workspace = open_workspace()
    workspace: Workspace = source.workspace
    return workspace
