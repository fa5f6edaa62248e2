"""The `opgraph` command line itself: its version, its help, and what the help imports."""

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from opgraph_app.cli import COMMANDS, FLASK_GROUP, load_command, main

OPGRAPH = str(Path(sys.executable).with_name("opgraph"))


def run_opgraph(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPGRAPH, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_version_is_opgraphs(tmp_path):
    done = run_opgraph("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"opgraph {version('opgraph')}\n"


def test_help_lists_opgraphs_groups_and_keeps_flasks_out_of_the_way(tmp_path):
    done = run_opgraph("--help", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("Commands:\n", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert names == sorted([*COMMANDS, FLASK_GROUP])
    for group in ("runs", "instance", "daemon", "workers", "code-server", "dev", "webserver"):
        assert group in names
    assert not {"run", "shell", "routes"} & set(names)  # under `opgraph flask`
    assert "--app" not in done.stdout and "Flask version" not in done.stdout


def test_help_and_version_build_no_app(tmp_path):
    """Only click is imported: not Flask, graphene, SQLAlchemy, Celery, nor opgraph."""
    heavy = ["flask", "graphene", "sqlalchemy", "celery", "opgraph", "opgraph_storage"]
    script = (
        "import json, sys\n"
        "from opgraph_app.cli import main\n"
        "for args in (['--help'], ['--version']):\n"
        "    try:\n"
        "        main(args, prog_name='opgraph')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_matches_each_command(name):
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name].short_help == command.get_short_help_str(limit=10**6)


def test_flask_commands_are_under_opgraph_flask():
    result = CliRunner().invoke(main, ["flask", "--help"])
    assert result.exit_code == 0, result.output
    for name in ("run", "shell", "routes"):
        assert f"  {name} " in result.output


def test_flask_routes_builds_opgraphs_app_not_one_from_the_working_directory(tmp_path):
    # A user's own app.py (every Flask user has one) is not the app `opgraph flask` runs.
    (tmp_path / "app.py").write_text("raise SystemExit('the user app was imported')\n")
    done = subprocess.run(
        [OPGRAPH, "flask", "routes"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"OPGRAPH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "/graphql" in done.stdout


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output


def test_the_flask_cli_form_has_the_same_groups(app):
    """`flask --app opgraph_app runs ...` keeps working for admins who use Flask's CLI."""
    registered = app.cli.commands  # type: ignore[attr-defined]
    for name in COMMANDS:
        assert isinstance(registered[name], click.Command)
    result = app.test_cli_runner().invoke(args=["runs", "list"])
    assert result.exit_code == 0, result.output
    assert "No runs match." in result.output


def test_a_lone_command_runs_in_the_app_context(tmp_path, monkeypatch):
    """`opgraph webserver` / `dev` / `code-server` read the instance through the app, as
    under FlaskGroup; their --help builds no app."""
    from flask import current_app

    from opgraph_app import cli_webserver

    seen = []
    stop = lambda: seen.append(current_app.name) or 1 / 0  # noqa: E731
    monkeypatch.setattr(cli_webserver, "current_instance", stop)
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    assert CliRunner().invoke(main, ["webserver", "--help"]).exit_code == 0
    assert seen == []

    result = CliRunner().invoke(main, ["webserver"])
    assert seen == ["opgraph_app"]  # reached the instance inside opgraph's app context
    assert isinstance(result.exception, ZeroDivisionError)
