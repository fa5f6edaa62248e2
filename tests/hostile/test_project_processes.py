"""A user project run from its own directory by every kind of process we start: the run
worker (cold and forked from the zygote) with multiprocess children, code servers, the
daemon and `opgraph dev`. Its app.py, storage.py, launchers.py, celery_executor.py,
config.py and utils.py are its own modules everywhere, and never the platform's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph import OpgraphInstance
from opgraph.workspace import load_workspace
from opgraph.workspace.base import LocationState
from opgraph_storage.records import RunStatus
from tests import waiting
from tests.hostile.conftest import FACTORS
from tests.hostile.projects import expected_platform_named, reports

OPGRAPH = str(Path(sys.executable).parent / "opgraph")  # the console script users run
TIMEOUT = 180.0  # generous: these must pass on a loaded machine


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    return waiting.wait_for(condition, what, timeout, poll=0.1)


def make_home(path: Path, **instance: Any) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "instance.yaml").write_text(yaml.safe_dump(instance))
    return path


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "OPGRAPH_HOME": str(home)}


@pytest.fixture
def instances() -> Iterator[Callable[[Path], OpgraphInstance]]:
    opened: list[OpgraphInstance] = []

    def open_instance(home: Path) -> OpgraphInstance:
        opened.append(OpgraphInstance.get(home))
        return opened[-1]

    yield open_instance
    for instance in opened:
        instance.dispose()


def only_run(instance: OpgraphInstance) -> Any:
    [run] = instance.storage.get_runs()
    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "executor, warm_start",
    [("multiprocess", True), ("in_process", False)],
    ids=["multiprocess-children-of-a-forked-worker", "in-process-in-a-cold-worker"],
)
def test_runs_launch_from_the_project_directory(
    platform_named, tmp_path, instances, executor, warm_start
):
    home = make_home(tmp_path / "home", run_launcher={"subprocess": {"warm_start": warm_start}})
    config = platform_named / "run.yaml"
    config.write_text(yaml.safe_dump({"execution": {"config": {executor: {}}}}))
    launched = subprocess.run(
        [OPGRAPH, "runs", "launch", "-f", "jobs.py", "hostile", "-c", "run.yaml", "--wait"],
        cwd=platform_named,
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    instance = instances(home)
    run = only_run(instance)
    assert run.status is RunStatus.SUCCESS
    assert reports(instance.storage.get_events(run.run_id)) == expected_platform_named()


def test_code_servers_of_locations_that_share_module_names(
    platform_named, shared_locations, tmp_path
):
    home = make_home(tmp_path / "home")
    roots = {**shared_locations, "project": platform_named}
    workspace = tmp_path / "workspace.yaml"
    entries = [
        {
            "python_file": {
                "relative_path": str(root / "jobs.py"),
                "location_name": name,
                "working_directory": str(root),
            }
        }
        for name, root in roots.items()
    ]
    workspace.write_text(yaml.safe_dump({"load_from": entries}))
    with load_workspace(workspace, home, wait_seconds=TIMEOUT) as loaded:
        for name in roots:
            status = wait_for(
                lambda name=name: (
                    loaded.get(name).status().state is not LocationState.LOADING
                    and loaded.get(name).status()
                ),
                f"location {name} to load",
            )
            assert status.state is LocationState.LOADED, status.error
        for name in shared_locations:
            tick = loaded.get(name).evaluate_schedule("hourly", scheduled_time=1.7e9)
            assert tick.error is None, tick.error
            assert tick.run_requests[0].tags == {
                "seen/helpers": f"helpers of {name}",
                "seen/sub": f"pkg.sub of {name}",
            }
        tick = loaded.get("project").evaluate_sensor("hostile_sensor")
        assert tick.error is None, tick.error
        assert tick.run_requests[0].tags == {
            "seen/app": "project app.py",
            "seen/utils": "project utils.py",
        }
    assert FACTORS  # the two shared locations are the conftest's


def test_the_daemon_run_from_the_project_directory_runs_its_sensor_request(
    platform_named, tmp_path, instances
):
    home = make_home(
        tmp_path / "home",
        run_coordinator={"queued": {"max_concurrent_runs": 2}},
        run_launcher="subprocess",
        daemon={"sensor_interval_seconds": 0.5, "scheduler_interval_seconds": 0.5},
    )
    (home / "workspace.yaml").write_text(
        yaml.safe_dump({"load_from": [{"python_file": str(platform_named / "jobs.py")}]})
    )
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [OPGRAPH, "daemon", "run"],
        cwd=platform_named,
        env=environment(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        instance = instances(home)

        def finished() -> Any:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()
            runs = instance.storage.get_runs()
            return runs and runs[0].status in (RunStatus.SUCCESS, RunStatus.FAILURE) and runs[0]

        run = wait_for(finished, "the sensor's run to finish")
        events = instance.storage.get_events(run.run_id)
        assert run.status is RunStatus.SUCCESS, [e.message for e in events if e.level == "ERROR"]
        assert run.tags["seen/app"] == "project app.py"
        assert reports(events) == expected_platform_named()
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
            daemon.wait()
        log.close()


def test_opgraph_dev_from_a_directory_holding_app_py(platform_named, tmp_path, instances):
    home = make_home(tmp_path / "home")
    port = str(free_port())
    dev = subprocess.run(
        [OPGRAPH, "dev", "-f", "jobs.py", "--port", port, "--job", "hostile", "--once"],
        cwd=platform_named,
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )
    assert dev.returncode == 0, dev.stdout + dev.stderr
    instance = instances(home)
    # The daemon dev started may have launched the project's sensor run too: take --job's.
    [run] = [r for r in instance.storage.get_runs() if "seen/app" not in r.tags]
    assert run.status is RunStatus.SUCCESS
    assert reports(instance.storage.get_events(run.run_id)) == expected_platform_named()
