"""Installed packages are shared by every location in one process (documented limit, see
docs/code-locations.md). A location that pins another version of a package runs the
processes that import it under an interpreter of its own: its code server (a `server:`
entry) and the Celery workers of its steps' queue."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

from opgraph import execute_job
from opgraph.code_pointer import ReconstructableJob
from opgraph.workspace import load_workspace
from opgraph.workspace.base import LocationState
from tests.hostile.projects import pinned_location, reports

VERSIONS = {"pin1": "1.0", "pin2": "2.0"}


def _environment(root: Path, version: str) -> Path:
    """A virtualenv with pinlib `version` installed, and opgraph (with what it needs)
    reachable from it. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    [site_packages] = (root / "lib").glob("python3*/site-packages")
    (site_packages / "pinlib").mkdir()
    (site_packages / "pinlib" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    ours = sysconfig.get_paths()["purelib"]  # .pth files there (the editable install) too
    (site_packages / "opgraph_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return root / "bin" / "python"


@pytest.fixture(scope="module")
def interpreters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("interpreters")
    return {name: _environment(root / name, version) for name, version in VERSIONS.items()}


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pinned")
    return {name: pinned_location(root / name, name) for name in VERSIONS}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def code_servers(interpreters, pinned, tmp_path) -> Iterator[dict[str, int]]:
    """One code server per pinned location, each under its location's interpreter."""
    ports, processes = {}, []
    for name, python in interpreters.items():
        ports[name] = _free_port()
        command = [str(python), "-P", "-m", "opgraph_app.code_server", "--port", str(ports[name])]
        command += ["-f", str(pinned[name] / "jobs.py"), "--location-name", name]
        log = (tmp_path / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen(command, cwd=pinned[name], stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()
    try:
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def test_code_servers_under_their_own_interpreters_see_their_own_versions(code_servers, tmp_path):
    entries = [
        {"server": {"host": "127.0.0.1", "port": port, "location_name": name}}
        for name, port in code_servers.items()
    ]
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": entries}))
    with load_workspace(workspace, tmp_path, wait_seconds=120) as loaded:
        for name, version in VERSIONS.items():
            location = loaded.get(name)
            deadline = time.monotonic() + 120
            while location.status().state is not LocationState.LOADED:
                assert time.monotonic() < deadline, location.status()
                time.sleep(0.1)
            tick = location.evaluate_schedule("hourly", scheduled_time=1.7e9)
            assert tick.error is None, tick.error
            assert tick.run_requests[0].tags == {"pinlib": version}


@pytest.fixture
def queues(celery_fleet, interpreters) -> Iterator[dict[str, str]]:
    """A Celery worker per interpreter, each on a queue of its own (one pool process)."""
    local = celery_fleet.local
    names = {}
    for name, python in interpreters.items():
        names[name] = f"{celery_fleet.queue}-{name}"
        command = [str(python), "-P", "-m", "celery", "-A", "opgraph_celery", "worker"]
        command += ["-Q", names[name], "--concurrency", "1", "-n", local.node(name)]
        command += ["--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        with open(local.log_path(name), "ab") as log:
            local.processes[name] = subprocess.Popen(
                command,
                env={**os.environ, "OPGRAPH_HOME": str(celery_fleet.home)},
                cwd=celery_fleet.home,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    try:
        for name in interpreters:
            local.wait_ready(name, timeout=120)
        yield names
    finally:
        for name in interpreters:
            local.stop(name)


def _run(fleet, root: Path, queue: str) -> dict:
    pointer = {"python_file": str(root / "jobs.py"), "working_directory": str(root)}
    config = {"execution": {"config": {"celery": {"default_queue": queue}}}}
    result = execute_job(ReconstructableJob(pointer, "pinned"), fleet.instance, run_config=config)
    events = fleet.instance.storage.get_events(result.run_id)
    assert result.success, [e.message for e in events if e.level == "ERROR"]
    return reports(events)["which_pinlib"]


def test_steps_on_the_queue_of_their_interpreter_see_their_own_versions(
    celery_fleet, pinned, queues, interpreters
):
    for name, version in VERSIONS.items():
        seen = _run(celery_fleet, pinned[name], queues[name])
        assert (seen["location"], seen["pinlib"]) == (name, version)
        assert seen["prefix"] == str(interpreters[name].parent.parent)


def test_the_limit_one_process_has_one_version_of_a_package(celery_fleet, pinned, queues):
    """Both locations' steps sent to the pin1 worker: both see pin1's version. Modules of
    the locations' own directories are isolated per location; installed packages are not."""
    for name in VERSIONS:
        seen = _run(celery_fleet, pinned[name], queues["pin1"])
        assert (seen["location"], seen["pinlib"]) == (name, "1.0")
