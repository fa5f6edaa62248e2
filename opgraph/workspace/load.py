"""`load_workspace`: from workspace.yaml to running code locations."""

from __future__ import annotations

import atexit
import time
from pathlib import Path

from opgraph.errors import InstanceConfigError
from opgraph.workspace.base import CodeLocation, DefinitionNotFound, Workspace
from opgraph.workspace.client import ServerCodeLocation
from opgraph.workspace.config import WORKSPACE_FILE, LocationSpec, load_workspace_config
from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph.workspace.reload_requests import ReloadRequests
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
    reload_requests: ReloadRequests | None = None,
    only: list[str] | None = None,
) -> Workspace:
    """The locations of `path` (default `home/workspace.yaml`; none if that is absent).

    python_file/python_module entries get a supervised code server each, all started at
    once so they import in parallel; this waits up to `wait_seconds` for them to load (a
    location still importing after that shows LOADING). `in_process=True` imports them
    into this process instead: for tests, never for the webserver or the daemon.
    `reload_requests` (over the instance's storage) keeps this workspace in step with
    reloads made by other processes. `only` loads just the named locations.
    """
    file = workspace_file(path, home)
    if path is not None and not file.is_file():
        raise InstanceConfigError(
            f"workspace file {str(file)!r} does not exist (given with --workspace or "
            "OPGRAPH_WORKSPACE)"
        )
    specs = load_workspace_config(file) if file.is_file() else []
    if only is not None:
        unknown = sorted(set(only) - {spec.name for spec in specs})
        if unknown:
            raise DefinitionNotFound(
                f"no code location named {', '.join(map(repr, unknown))} in {file}; it has "
                f"{[spec.name for spec in specs] or 'none'}"
            )
        specs = [spec for spec in specs if spec.name in only]
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
    workspace = Workspace(locations, source=str(file), reload_requests=reload_requests)
    supervisor = Supervisor(
        managed, workspace.follow_reload_requests if reload_requests is not None else None
    )
    workspace.on_close(supervisor.stop)
    supervisor.start()
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
