"""`load_workspace`: from workspace.yaml to running code locations."""

from __future__ import annotations

import atexit
import time
from pathlib import Path

from opgraph.errors import InstanceConfigError
from opgraph.workspace.base import CodeLocation, Workspace
from opgraph.workspace.client import ServerCodeLocation
from opgraph.workspace.config import WORKSPACE_FILE, LocationSpec, load_workspace_config
from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph.workspace.supervisor import ManagedCodeLocation, Supervisor

DEFAULT_WAIT_SECONDS = 30.0


def workspace_file(path: Path | None, home: Path) -> Path:
    return path if path is not None else home / WORKSPACE_FILE


def load_workspace(
    path: Path | None,
    home: Path,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    in_process: bool = False,
) -> Workspace:
    """The locations of `path` (default `home/workspace.yaml`; none if that is absent).

    python_file/python_module entries get a supervised code server each, all started at
    once so they import in parallel; this waits up to `wait_seconds` for them to load (a
    location still importing after that shows LOADING). `in_process=True` imports them
    into this process instead: for tests, never for the webserver or the daemon.
    """
    file = workspace_file(path, home)
    if path is not None and not file.is_file():
        raise InstanceConfigError(
            f"workspace file {str(file)!r} does not exist (given with --workspace or "
            "OPGRAPH_WORKSPACE)"
        )
    specs = load_workspace_config(file) if file.is_file() else []
    locations: list[CodeLocation] = []
    managed: list[ManagedCodeLocation] = []
    for spec in specs:
        location = _location(spec, home, in_process)
        locations.append(location)
        if isinstance(location, ManagedCodeLocation):
            managed.append(location)
    for location in managed:
        location.start()
    deadline = time.monotonic() + wait_seconds
    for location in managed:
        location.wait_until_loaded(max(0.0, deadline - time.monotonic()))
    supervisor = Supervisor(managed)
    supervisor.start()
    workspace = Workspace(locations, source=str(file), on_close=supervisor.stop)
    if managed:  # code servers must not outlive a webserver or daemon that exits normally
        atexit.register(workspace.close)
    return workspace


def _location(spec: LocationSpec, home: Path, in_process: bool) -> CodeLocation:
    if spec.is_server:
        server = spec.origin["server"]
        return ServerCodeLocation(spec.name, server["host"], server["port"], origin=spec.origin)
    if in_process:
        return InProcessCodeLocation(spec.name, spec.origin)
    return ManagedCodeLocation(spec.name, spec.origin, home / "logs" / "code_servers")
