"""`opgraph locations list|reload` and the app's workspace."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from workspace_code import BROKEN, JOBS, small_jobs

from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import LocationState
from opgraph.workspace.reload_requests import ReloadRequests
from opgraph_app import create_app
from opgraph_app.workspace import current_workspace

Write = Callable[[str, str], Path]


@pytest.fixture
def app(sqlite_instance: OpgraphInstance) -> Flask:
    return create_app(sqlite_instance)


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def workspace_file(write: Write, tmp_path: Path) -> Path:
    write("jobs.py", JOBS)
    write("broken.py", BROKEN)
    path = tmp_path / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_file: jobs.py\n"
        "  - python_file: {relative_path: broken.py, location_name: bad}\n"
    )
    return path


def test_list_shows_each_location_and_the_broken_ones_error(
    cli: FlaskCliRunner, workspace_file: Path, tmp_path: Path
) -> None:
    result = cli.invoke(args=["locations", "list", "-w", str(workspace_file)])
    assert result.exit_code == 1, result.output  # a broken location fails the command
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "LOCATION",
        "STATE",
        "VERSION",
        "JOBS",
        "SCHEDULES",
        "SENSORS",
        "UPDATED",
        "ORIGIN",
    ]
    jobs_row = lines[1].split()
    assert jobs_row[:2] == ["jobs", "LOADED"] and jobs_row[3:6] == ["2", "2", "1"]
    assert lines[2].split()[:2] == ["bad", "ERROR"]
    broken = tmp_path / "broken.py"
    assert f"bad: {broken}:10: RuntimeError: this job file is broken" in result.output
    assert f'  File "{broken}", line 10, in <module>' in result.output


def test_list_as_json(cli: FlaskCliRunner, workspace_file: Path) -> None:
    result = cli.invoke(args=["locations", "list", "-w", str(workspace_file), "--json"])
    assert result.exit_code == 0, result.output
    [jobs, bad] = json.loads(result.output)
    assert jobs["state"] == "LOADED" and sorted(jobs["jobs"]) == ["hello_job", "input_job"]
    assert jobs["schedules"] == ["hourly", "failing"] and jobs["sensors"] == ["watcher"]
    assert bad["state"] == "ERROR" and bad["error"]["line"] == 10


def test_list_with_no_workspace(cli: FlaskCliRunner, sqlite_instance: OpgraphInstance) -> None:
    result = cli.invoke(args=["locations", "list"])
    assert result.exit_code == 0, result.output
    expected = sqlite_instance.home / "workspace.yaml"
    assert result.output == f"No code locations in {expected}.\n"


def test_reload_reports_the_version_and_tells_other_processes(
    cli: FlaskCliRunner, workspace_file: Path, sqlite_instance: OpgraphInstance
) -> None:
    result = cli.invoke(args=["locations", "reload", "jobs", "-w", str(workspace_file)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Reloaded jobs: LOADED, version ")
    assert ReloadRequests(sqlite_instance.storage).latest("jobs") is not None

    broken = cli.invoke(args=["locations", "reload", "bad", "-w", str(workspace_file)])
    assert broken.exit_code == 1
    assert "Reloaded bad: ERROR" in broken.output and "RuntimeError" in broken.output

    unknown = cli.invoke(args=["locations", "reload", "nope", "-w", str(workspace_file)])
    assert unknown.exit_code == 1
    assert f"Error: no code location named 'nope' in {workspace_file}; it has ['jobs', 'bad']" in (
        unknown.output
    )


def test_broken_workspace_file_is_one_clear_error(cli: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from:\n  - python_fil: jobs.py\n")
    result = cli.invoke(args=["locations", "list", "-w", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: unknown key load_from.0.python_fil; allowed keys: python_file" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_app_workspace_is_loaded_once_from_the_environment(
    app: Flask, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("one.py", small_jobs("one_job"))
    path = tmp_path / "env-workspace.yaml"
    path.write_text("load_from:\n  - python_file: one.py\n")
    monkeypatch.setenv("OPGRAPH_WORKSPACE", str(path))
    with app.app_context():
        workspace = current_workspace()
        try:
            assert current_workspace() is workspace
            assert workspace.get("one").status().state is LocationState.LOADED
            assert workspace.reload_requests is not None  # follows reloads made elsewhere
        finally:
            workspace.close()


def test_app_keeps_a_workspace_it_was_given(sqlite_instance: OpgraphInstance) -> None:
    from opgraph.workspace.base import Workspace

    given = Workspace([])
    app = create_app(sqlite_instance, given)
    with app.app_context():
        assert current_workspace() is given
