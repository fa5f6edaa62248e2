"""Workspaces of supervised code servers: real subprocesses, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from workspace_code import BROKEN, JOBS, ROOT, small_jobs, wait_for

from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import CodeLocationError, LocationState, LocationStatus, Workspace
from opgraph.workspace.load import load_workspace
from opgraph.workspace.reload_requests import ReloadRequests
from opgraph.workspace.runs import create_location_run
from opgraph.workspace.supervisor import ManagedCodeLocation

Write = Callable[[str, str], Path]

# An import that holds while a file exists (at most two minutes), instead of sleeping.
HELD_IMPORT = """import os, time
_deadline = time.monotonic() + 120
while os.path.exists({hold!r}) and time.monotonic() < _deadline:
    time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child still "exists": look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def workspaces() -> Iterator[Callable[..., Workspace]]:
    """load(yaml_text, home, **options): a workspace from tmp files, closed after the test."""
    opened: list[Workspace] = []

    def load(path: Path, home: Path, **options: object) -> Workspace:
        workspace = load_workspace(path, home, **options)  # type: ignore[arg-type]
        opened.append(workspace)
        return workspace

    yield load
    for workspace in opened:
        workspace.close()


def _workspace_yaml(tmp_path: Path, entries: list[str]) -> Path:
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from:\n" + "".join(f"  - {entry}\n" for entry in entries))
    return path


def _managed(workspace: Workspace, name: str) -> ManagedCodeLocation:
    location = workspace.get(name)
    assert isinstance(location, ManagedCodeLocation)
    return location


def test_five_locations_load(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    for index in range(5):
        write(f"loc{index}.py", JOBS)
    path = _workspace_yaml(tmp_path, [f"python_file: loc{index}.py" for index in range(5)])
    started = time.perf_counter()
    workspace = workspaces(path, home)
    statuses = workspace.statuses()
    jobs = {location.name: location.job_names() for location in workspace.locations()}
    elapsed = time.perf_counter() - started
    assert [s.state for s in statuses] == [LocationState.LOADED] * 5, statuses
    assert all(sorted(names) == ["hello_job", "input_job"] for names in jobs.values())
    print(f"5-location workspace loaded in {elapsed:.2f}s (budget: benchmarks/workspace.py)")


def test_webserver_side_never_imports_user_code(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    write("marker_module_for_import_check.py", "VALUE = 1\n")
    write("uses_marker.py", "import marker_module_for_import_check\n" + small_jobs())
    workspace = workspaces(_workspace_yaml(tmp_path, ["python_file: uses_marker.py"]), home)
    assert workspace.get("uses_marker").job_names() == ["small_job"]
    assert "marker_module_for_import_check" not in sys.modules


def test_broken_locations_beside_good_ones(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    write("good.py", JOBS)
    write("raises.py", BROKEN)
    write("crashes.py", "import os\nprint('about to crash')\nos._exit(3)\n")
    write("slow_then_fine.py", "import time\ntime.sleep(0.3)\n" + small_jobs())
    path = _workspace_yaml(
        tmp_path,
        [
            "python_file: raises.py",
            "python_file: good.py",
            "python_file: crashes.py",
            "python_file: slow_then_fine.py",
        ],
    )
    workspace = workspaces(path, home)
    raises = workspace.get("raises").status()
    assert raises.state is LocationState.ERROR and raises.error is not None
    assert (raises.error.file, raises.error.line) == (str(tmp_path / "raises.py"), 10)
    assert "RuntimeError: this job file is broken" in raises.error.traceback

    crashes = workspace.get("crashes").status()
    assert crashes.state is LocationState.ERROR and crashes.error is not None
    assert "code server for 'crashes' exited with code 3" in crashes.error.message
    assert "about to crash" in crashes.error.traceback  # the tail of the server's output

    good = workspace.get("good")
    assert good.status().state is LocationState.LOADED
    assert good.evaluate_sensor("watcher").run_requests[0].run_key == "k0"
    assert workspace.get("slow_then_fine").job_names() == ["small_job"]
    assert workspace.find_job("small_job").name == "slow_then_fine"


def test_killed_code_server_is_restarted_by_its_supervisor(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    write("jobs.py", JOBS)
    workspace = workspaces(_workspace_yaml(tmp_path, ["python_file: jobs.py"]), home)
    location = _managed(workspace, "jobs")
    first_pid = location.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    wait_for(lambda: location.status().state is LocationState.ERROR, what="the crash to show")
    error = location.status().error
    assert error is not None and "exited with code -9" in error.message
    wait_for(
        lambda: location.status().state is LocationState.LOADED, timeout=60, what="the restart"
    )
    assert location.pid != first_pid and location.restarts == 1
    assert sorted(location.job_names()) == ["hello_job", "input_job"]
    assert not _alive(first_pid)


def test_reload_after_editing_the_file(
    write: Write,
    tmp_path: Path,
    home: Path,
    workspaces: Callable[..., Workspace],
    sqlite_instance: OpgraphInstance,
) -> None:
    path = write("edited.py", small_jobs("the_job", value=1))
    workspace = workspaces(_workspace_yaml(tmp_path, ["python_file: edited.py"]), home)
    location = _managed(workspace, "edited")
    old_pid, old_version = location.pid, location.version
    run_before = create_location_run(sqlite_instance, location, "the_job")

    write("edited.py", small_jobs("the_job", value=2) + "\n\n# edited\n")
    status = workspace.reload("edited")
    assert status.state is LocationState.LOADED
    assert status.version != old_version
    assert location.pid != old_pid
    wait_for(lambda: old_pid is not None and not _alive(old_pid), what="the old server to stop")
    run_after = create_location_run(sqlite_instance, location, "the_job")

    # runs record location, pointer and version; the run made before keeps its own
    before = sqlite_instance.get_run(run_before.run_id)
    after = sqlite_instance.get_run(run_after.run_id)
    assert (before.location_name, before.code_version) == ("edited", old_version)
    assert (after.location_name, after.code_version) == ("edited", status.version)
    assert before.code_pointer == {
        "python_file": str(path),
        "working_directory": str(tmp_path),
        "attribute": "defs",
    }


def test_a_call_racing_a_reload_is_answered_by_the_new_server(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    """A reload stops the old server once the new one is up: a call that was talking to
    the old one is asked again of the new one, not failed as if the location crashed."""
    write("raced.py", small_jobs("old_job"))
    workspace = workspaces(_workspace_yaml(tmp_path, ["python_file: raced.py"]), home)
    location = _managed(workspace, "raced")
    assert location.job_names() == ["old_job"]
    write("raced.py", small_jobs("new_job"))
    reloaded: list[LocationStatus] = []

    def reload_then_ask(client: Any) -> list[str]:
        if not reloaded:  # the first try: the server this call holds is replaced meanwhile
            reloaded.append(location.reload())
            client.forget_cache()  # no cached answer: ask the (now stopped) old server
        return sorted(job.name for job in client.jobs())

    assert location._call(reload_then_ask) == ["new_job"]
    assert reloaded[0].state is LocationState.LOADED
    status = location.status()
    assert status.state is LocationState.LOADED and status.version == reloaded[0].version


def test_reload_to_broken_code_shows_the_error(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    write("flaky.py", small_jobs())
    workspace = workspaces(_workspace_yaml(tmp_path, ["python_file: flaky.py"]), home)
    write("flaky.py", BROKEN)
    status = workspace.reload("flaky")
    assert status.state is LocationState.ERROR and status.error is not None
    assert status.error.line == 10
    write("flaky.py", small_jobs("fixed_job"))
    assert workspace.reload("flaky").state is LocationState.LOADED
    assert workspace.get("flaky").job_names() == ["fixed_job"]


def test_slow_import_leaves_the_others_working(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    # The slow import holds until the test lets it go: the others must work meanwhile.
    hold = tmp_path / "hold"
    hold.touch()
    write("slow.py", HELD_IMPORT.format(hold=str(hold)) + small_jobs("slow_job"))
    write("fast.py", small_jobs("fast_job"))
    path = _workspace_yaml(tmp_path, ["python_file: slow.py", "python_file: fast.py"])
    workspace = workspaces(path, home, wait_seconds=1.0)
    # The fast one loads while the slow one is held (its start may take longer than the
    # workspace's 1 s wait on a loaded machine: wait for the fact, not the time).
    wait_for(
        lambda: workspace.get("fast").status().state is LocationState.LOADED,
        timeout=120,
        what="the fast import",
    )
    assert workspace.get("slow").status().state is LocationState.LOADING
    assert workspace.get("fast").job_names() == ["fast_job"]
    hold.unlink()
    wait_for(
        lambda: workspace.get("slow").status().state is LocationState.LOADED,
        timeout=120,
        what="the slow import",
    )
    assert workspace.get("slow").job_names() == ["slow_job"]


def test_server_entries_and_an_unreachable_one(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    jobs = write("remote_jobs.py", JOBS)
    port_file = tmp_path / "port.json"
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "opgraph_app.code_server", "--port", "0"),
            *("--port-file", str(port_file), "-f", str(jobs), "--location-name", "remote"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(port_file.exists, what="the code server to listen")
        port = json.loads(port_file.read_text())["port"]
        path = _workspace_yaml(
            tmp_path,
            [
                f"server: {{port: {port}, location_name: remote}}",
                "server: {port: 1, location_name: nowhere}",
            ],
        )
        workspace = workspaces(path, home)
        wait_for(lambda: workspace.get("remote").status().state is LocationState.LOADED)
        assert "hello_job" in workspace.get("remote").job_names()
        nowhere = workspace.get("nowhere").status()
        assert nowhere.state is LocationState.ERROR and nowhere.error is not None
        assert "http://127.0.0.1:1 is not reachable" in nowhere.error.message
        assert workspace.get("remote").status().origin == {
            "python_file": str(jobs),
            "working_directory": str(ROOT),
        }
    finally:
        server.kill()
        server.wait()


def test_close_stops_every_code_server(
    write: Write, tmp_path: Path, home: Path, workspaces: Callable[..., Workspace]
) -> None:
    write("a.py", small_jobs("a_job"))
    write("b.py", small_jobs("b_job"))
    workspace = workspaces(
        _workspace_yaml(tmp_path, ["python_file: a.py", "python_file: b.py"]), home
    )
    pids = [_managed(workspace, name).pid for name in ("a", "b")]
    assert all(pid is not None and _alive(pid) for pid in pids)
    workspace.close()
    assert not any(_alive(pid) for pid in pids if pid is not None)
    assert (home / "logs" / "code_servers" / "a.log").read_text().count("LOADED") == 1


def test_code_servers_exit_when_their_supervisor_is_killed(write: Write, tmp_path: Path) -> None:
    write("jobs.py", small_jobs())
    path = _workspace_yaml(tmp_path, ["python_file: jobs.py"])
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from opgraph.workspace.load import load_workspace
        workspace = load_workspace(Path({str(path)!r}), Path({str(tmp_path / "home")!r}))
        print(workspace.get("jobs").pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        parent.kill()  # SIGKILL: no atexit, no cleanup
        parent.wait()
        wait_for(lambda: not _alive(server_pid), timeout=10, what="the orphan to exit")
    finally:
        parent.kill()


def test_reloads_reach_other_processes_through_storage(
    write: Write,
    tmp_path: Path,
    home: Path,
    workspaces: Callable[..., Workspace],
    sqlite_instance: OpgraphInstance,
) -> None:
    write("shared.py", small_jobs("old_job"))
    path = _workspace_yaml(tmp_path, ["python_file: shared.py"])
    requests = ReloadRequests(sqlite_instance.storage)
    webserver = workspaces(path, home, reload_requests=requests)
    daemon = workspaces(path, home, reload_requests=requests)
    write("shared.py", small_jobs("new_job"))
    status = webserver.reload("shared")
    assert webserver.get("shared").job_names() == ["new_job"]
    wait_for(
        lambda: daemon.get("shared").version == status.version,
        timeout=15,
        what="the other workspace to follow the reload",
    )
    assert daemon.get("shared").job_names() == ["new_job"]
    assert webserver.follow_reload_requests() == []  # its own request is not followed again


def test_calls_to_a_dead_server_say_it_exited(write: Write, home: Path) -> None:
    path = write("alone.py", small_jobs())
    location = ManagedCodeLocation("alone", {"python_file": str(path)}, home / "logs")
    location.start()  # no supervisor: nothing restarts it
    try:
        assert location.wait_until_loaded(15).state is LocationState.LOADED
        assert location.pid is not None
        os.kill(location.pid, signal.SIGKILL)
        wait_for(lambda: location.pid is not None and not _alive(location.pid))
        with pytest.raises(CodeLocationError, match="exited with code -9; the supervisor restarts"):
            location.validate_run_config("small_job", {})
        location.check()  # what the supervisor does: first the backoff...
        assert location.restarts == 0
        wait_for(lambda: (location.check(), location.restarts)[1] == 1, what="the restart")
        assert location.wait_until_loaded(15).state is LocationState.LOADED
        assert location.validate_run_config("small_job", {}) == []
    finally:
        location.close()
