"""The app's workspace: loaded on first use, shared by views, GraphQL and commands.

`create_app(instance, workspace)` may hand one in (tests do); otherwise the first caller
of `current_workspace()` loads `--workspace`/`OPGRAPH_WORKSPACE`/`OPGRAPH_HOME/
workspace.yaml`, starting one supervised code server per python_file/python_module entry.
Plain `opgraph runs ...` commands never call it, so they start no code servers.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import current_app

from opgraph.workspace.base import Workspace
from opgraph_app.cli_context import load_instance_workspace
from opgraph_app.extension import OpgraphExtension

_loading = threading.Lock()


def open_workspace(path: Path | None = None, only: list[str] | None = None) -> Workspace:
    """A workspace for this app's instance, in step with reloads made elsewhere."""
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    return load_instance_workspace(extension.instance, path, only)


def current_workspace() -> Workspace:
    extension: OpgraphExtension = current_app.extensions["opgraph"]
    if extension.workspace is None:
        with _loading:  # two first requests at once must not start two sets of servers
            if extension.workspace is None:
                extension.workspace = open_workspace()
    return extension.workspace  # type: ignore[no-any-return]
