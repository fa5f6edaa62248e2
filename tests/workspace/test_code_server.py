"""The code server as a real subprocess, spoken to over real HTTP."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workspace_code import ROOT, small_jobs, wait_for

from opgraph.errors import RunConfigError
from opgraph.workspace.base import (
    CodeLocationError,
    CodeLocationUnreachable,
    DefinitionNotFound,
    LocationState,
)
from opgraph.workspace.client import ServerCodeLocation

StartServer = Callable[..., tuple[subprocess.Popen[bytes], ServerCodeLocation]]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """start_server(*args, command=...) -> (process, client) once the server listens."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *args: str, command: list[str] | None = None, **client_options: float
    ) -> tuple[subprocess.Popen[bytes], ServerCodeLocation]:
        port_file = tmp_path / f"port-{len(started)}.json"
        base = command or [sys.executable, "-m", "opgraph_app.code_server"]
        process = subprocess.Popen(
            [*base, "--port", "0", "--port-file", str(port_file), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        wait_for(lambda: port_file.exists() or process.poll() is not None, what="the port file")
        assert process.poll() is None, process.communicate()[0].decode()
        info = json.loads(port_file.read_text())
        client = ServerCodeLocation("jobs", info["host"], info["port"], **client_options)
        wait_for(lambda: client.status().state is not LocationState.LOADING, what="the load")
        return process, client

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_server_answers_for_a_file_location(start_server: StartServer, jobs_file: Path) -> None:
    _, client = start_server("-f", str(jobs_file))
    status = client.status()
    assert status.state is LocationState.LOADED, status.error
    assert status.name == "jobs" and status.version
    assert client.host == "127.0.0.1"  # the default bind address
    assert sorted(client.job_names()) == ["hello_job", "input_job"]
    job = client.job("hello_job")
    assert job.op("greet").tags == {"team": "a"}
    assert [s.name for s in client.schedules()] == ["hourly", "failing"]
    assert [s.name for s in client.sensors()] == ["watcher"]
    assert client.code_pointer("hello_job") == {
        "python_file": str(jobs_file),
        "working_directory": str(ROOT),
        "attribute": "defs",
    }


def test_schedule_and_sensor_evaluation_through_the_server(
    start_server: StartServer, jobs_file: Path
) -> None:
    _, client = start_server("-f", str(jobs_file))
    scheduled = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC).timestamp()
    tick = client.evaluate_schedule("hourly", scheduled)
    assert [r.run_key for r in tick.run_requests] == ["2026-01-05T10:00:00+01:00"]
    assert tick.run_requests[0].run_config == {"ops": {"limit": {"config": 10}}}

    failed = client.evaluate_schedule("failing", scheduled)
    assert failed.error is not None and failed.error.message.startswith("ValueError")
    assert "schedule function failed" in failed.error.traceback
    assert client.status().state is LocationState.LOADED  # a raising schedule harms nothing

    first = client.evaluate_sensor("watcher")
    second = client.evaluate_sensor("watcher", first.cursor, "k0")
    assert (first.cursor, second.cursor) == ("1", "2")
    assert second.skip_message == "odd tick 1"


def test_errors_come_back_as_the_same_exceptions(
    start_server: StartServer, jobs_file: Path
) -> None:
    _, client = start_server("-f", str(jobs_file))
    assert client.validate_run_config("hello_job", {"ops": {"limit": {"config": "x"}}}) == [
        "ops.limit.config.value: expected int, got 'x'",
        "ops.greet.config: required config missing (fields ['times'])",
    ]
    with pytest.raises(RunConfigError) as caught:
        client.execution_plan("hello_job", {})
    assert len(caught.value.errors) == 2
    with pytest.raises(DefinitionNotFound, match="has no job 'nope'"):
        client.validate_run_config("nope", {})
    with pytest.raises(DefinitionNotFound, match="has no sensor 'nope'; it has \\['watcher'\\]"):
        client.evaluate_sensor("nope")
    with pytest.raises(CodeLocationError, match="cursor: expected a string or null, given 3"):
        client._request("POST", "/sensors/watcher/evaluate", {"cursor": 3})
    with pytest.raises(CodeLocationError, match="run_config: expected a JSON object"):
        client._request("POST", "/jobs/hello_job/validate", {"run_config": [1]})


def test_wire_is_json_even_for_unknown_routes(start_server: StartServer, jobs_file: Path) -> None:
    _, client = start_server("-f", str(jobs_file))
    connection = http.client.HTTPConnection(client.host, client.port, timeout=5)
    connection.request("GET", "/snapshot")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "application/json"
    body = json.loads(response.read())
    assert set(body) == {"status", "jobs", "schedules", "sensors"}
    connection.request("GET", "/no/such/route")
    response = connection.getresponse()
    assert response.status == 404
    assert json.loads(response.read())["error"]["kind"] == "DefinitionNotFound"
    connection.close()


def test_broken_location_server_stays_up_and_reports(
    start_server: StartServer, write: Callable[[str, str], Path]
) -> None:
    path = write("broken.py", "import opgraph\n\n1 / 0\n")
    process, client = start_server("-f", str(path), "--location-name", "broken")
    status = client.status()
    assert status.state is LocationState.ERROR and status.error is not None
    assert (status.error.file, status.error.line) == (str(path), 3)
    assert "ZeroDivisionError" in status.error.traceback
    with pytest.raises(CodeLocationError, match=rf"is ERROR: {path}:3: ZeroDivisionError"):
        client.jobs()
    assert process.poll() is None


def test_module_location_through_flask_cli(
    start_server: StartServer, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    write("server_pkg/__init__.py", "")
    write("server_pkg/jobs.py", small_jobs("module_job"))
    flask = [sys.executable, "-m", "flask", "--app", "opgraph_app", "code-server"]
    _, client = start_server(
        "-m", "server_pkg.jobs", "-d", str(tmp_path), "--location-name", "pkg", command=flask
    )
    assert client.status().name == "pkg"
    assert client.job_names() == ["module_job"]


def test_reload_through_the_server_after_editing(
    start_server: StartServer, write: Callable[[str, str], Path]
) -> None:
    path = write("edited.py", small_jobs("first_job"))
    _, client = start_server("-f", str(path))
    before = client.status().version
    assert client.job_names() == ["first_job"]
    write("edited.py", small_jobs("second_job"))
    status = client.reload()
    assert status.version != before
    assert client.job_names() == ["second_job"]  # the cached snapshot was dropped


def test_snapshot_cache_follows_a_reload_made_by_someone_else(
    start_server: StartServer, write: Callable[[str, str], Path]
) -> None:
    path = write("shared.py", small_jobs("first_job"))
    _, client = start_server("-f", str(path))
    other = ServerCodeLocation("jobs", client.host, client.port)
    assert client.job_names() == ["first_job"]
    write("shared.py", small_jobs("second_job"))
    other.reload()
    wait_for(lambda: client.job_names() == ["second_job"], timeout=5, what="revalidation")


def test_a_launch_asks_the_server_nothing_its_snapshot_knows(
    start_server: StartServer, jobs_file: Path, write: Callable[[str, str], Path]
) -> None:
    """Version, code pointer and an accepted run config come from the snapshot while its
    version holds; a rejected config is asked again; a new version asks everything again."""
    _, client = start_server("-f", str(jobs_file), revalidate_seconds=3600)
    asked: list[str] = []
    request = client._request

    def counting(method: str, path: str, *args: object) -> object:
        asked.append(path)
        return request(method, path, *args)

    client._request = counting  # type: ignore[method-assign]
    good = {"ops": {"greet": {"config": {"times": 2}}, "limit": {"config": 3}}}
    bad = {"ops": {"limit": {"config": "x"}}}

    def launch(run_config: dict[str, object]) -> tuple[object, ...]:
        errors = client.validate_run_config("hello_job", run_config)
        return client.version, client.code_pointer("hello_job"), errors

    first = launch(good)
    assert first[2] == []
    assert asked == ["/snapshot", "/jobs/hello_job/validate", "/jobs/hello_job/code_pointer"]
    asked.clear()
    assert launch(good) == first and asked == []
    assert launch(bad)[2] and launch(bad)[2]
    assert asked == ["/jobs/hello_job/validate"] * 2  # errors always from the current code
    write("jobs.py", jobs_file.read_text().replace("times: int", "times: str"))
    assert client.reload().version != first[0]
    asked.clear()
    version, _, errors = launch(good)
    assert version != first[0] and errors == ["ops.greet.config.times: expected str, got 2"]
    assert asked == ["/snapshot", "/jobs/hello_job/validate", "/jobs/hello_job/code_pointer"]


def test_unreachable_server_and_timeouts(start_server: StartServer, write: Callable) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    client = ServerCodeLocation("gone", "127.0.0.1", free_port)
    status = client.status()  # status always answers
    assert status.state is LocationState.ERROR and status.error is not None
    assert f"code server at http://127.0.0.1:{free_port} is not reachable" in status.error.message
    with pytest.raises(CodeLocationUnreachable, match="is `opgraph code-server --port"):
        client.jobs()

    source = small_jobs() + (
        "\nimport time\nfrom opgraph import sensor\n\n\n@sensor(job=small_job)\n"
        "def slow(context):\n    time.sleep(3)\n\n\n"
        "defs = Definitions(jobs=[small_job], sensors=[slow])\n"
    )
    _, slow = start_server("-f", str(write("slow.py", source)), evaluation_timeout=0.5)
    with pytest.raises(
        CodeLocationUnreachable, match=r"did not answer POST /sensors/slow/evaluate within 0\.5s"
    ):
        slow.evaluate_sensor("slow")
    assert slow.status().state is LocationState.LOADED  # other requests are still answered


def test_usage_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opgraph_app.code_server", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "give exactly one of -f/--python-file FILE or -m/--module-name MODULE" in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "opgraph_app.code_server", "--port", str(port), "-f", "x.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_code_server_starts_without_the_storage_libraries() -> None:
    # A workspace starts one code server per location at once: every import counts, and
    # the code server never touches storage (SQLAlchemy alone is ~0.15 s here).
    probe = (
        "import sys, app.code_server; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'celery', 'kombu'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
