"""The command groups' context: Flask-free under `opgraph`, the app's under `flask`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app
from opgraph_app.cli import COMMANDS, load_command
from opgraph_app.cli_context import context_source
from opgraph_app.cli_runs import runs_cli
from opgraph_storage.records import RunRecord

BIN = Path(sys.executable).parent
# What serving the web app takes, and a command that serves none must not import.
WEB_MODULES = (
    "flask",
    "werkzeug",
    "jinja2",
    "graphene",
    "opgraph_app.extension",
    "opgraph_app.graphql",
    "opgraph_app.ui",
)
JOBS = (Path(__file__).parent.parent / "one_op_job.py").read_text()


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A directory with jobs.py, and an environment whose home is a fresh SQLite one."""
    (tmp_path / "jobs.py").write_text(JOBS)
    return tmp_path, {**os.environ, "OPGRAPH_HOME": str(tmp_path / "home")}


def imported_modules(importtime_log: str) -> set[str]:
    """The modules named by `-X importtime` lines: `import time: self | cumulative | name`."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }


def test_runs_launch_wait_imports_no_web_module(project):
    """The console script itself (it re-executes under -P; the environment variable goes
    along, and into the run worker it forks): no Flask from start to RUN_SUCCESS."""
    cwd, env = project
    done = subprocess.run(
        [str(BIN / "opgraph"), "runs", "launch", "-f", "jobs.py", "one_op", "--wait"],
        cwd=cwd,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "finished: SUCCESS" in done.stdout
    imported = imported_modules(done.stderr)
    assert "opgraph_app.cli_runs_control" in imported  # the log is the command's
    assert sorted(imported & set(WEB_MODULES)) == []


CHILD = """
import json, sys
from opgraph_app.cli import main
try:
    main(sys.argv[1:], prog_name="opgraph")
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, sorted(m for m in {web!r} if m in sys.modules)]))
"""


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["runs", "list"], 0),
        (["instance", "info"], 0),
        (["assets", "list"], 0),
        (["backfill", "list"], 0),
        (["schedules", "list"], 0),
        (["sensors", "list"], 0),
        (["locations", "list"], 0),
        (["workers", "--help"], 0),
        (["daemon", "status"], 1),  # no daemon has run in this home
    ],
)
def test_command_groups_run_without_flask(project, args, exit_code):
    cwd, env = project
    done = subprocess.run(
        [sys.executable, "-P", "-c", CHILD.format(web=WEB_MODULES), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    code, web = json.loads(done.stdout.splitlines()[-1])
    assert (code, web) == (exit_code, []), done.stdout + done.stderr


def test_the_flask_cli_registers_the_same_command_objects(app):
    for name in COMMANDS:
        assert app.cli.commands[name] is load_command(name)  # type: ignore[attr-defined]


def test_under_flask_commands_use_the_apps_instance(instance, tmp_path, monkeypatch):
    """`create_app(instance)` decides, not OPGRAPH_HOME (as `with_appcontext` did)."""
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path / "another_home"))
    instance.storage.add_run(RunRecord(run_id="in-the-apps-instance", job_name="etl"))

    result = create_app(instance).test_cli_runner().invoke(args=["runs", "list", "--json"])

    assert result.exit_code == 0, result.output
    assert [row["run_id"] for row in json.loads(result.output)] == ["in-the-apps-instance"]
    assert not (tmp_path / "another_home").exists()


def test_flask_entry_point_launches_into_the_same_home_as_opgraph(project):
    """What admins type (docs/graphql.md): `flask --app opgraph_app runs ...`."""
    cwd, env = project
    launched = subprocess.run(
        [
            str(BIN / "flask"),
            "--app",
            "opgraph_app",
            "runs",
            "launch",
            "-f",
            "jobs.py",
            "one_op",
            "--wait",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "finished: SUCCESS" in launched.stdout

    listed = subprocess.run(
        [str(BIN / "opgraph"), "runs", "list", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    [run] = json.loads(listed.stdout)
    assert (run["job_name"], run["status"]) == ("one_op", "SUCCESS")


def test_a_bare_click_call_reads_the_home_of_opgraph_home(tmp_path, monkeypatch):
    home = OpgraphInstance.get(tmp_path)
    home.storage.add_run(RunRecord(run_id="in-opgraph-home", job_name="etl"))
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))

    result = CliRunner().invoke(runs_cli, ["list", "--json"])

    assert result.exit_code == 0, result.output
    assert [row["run_id"] for row in json.loads(result.output)] == ["in-opgraph-home"]


def test_outside_a_command_there_is_no_context():
    with pytest.raises(RuntimeError, match=r"run them as `opgraph \.\.\.` or `flask --app"):
        context_source()
