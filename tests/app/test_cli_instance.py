"""`instance info`, `instance migrate`, `/health` and the `opgraph` entry point."""

import json
import sqlite3
import time

import pytest
import yaml
from click.testing import CliRunner

from opgraph.instance import OpgraphInstance
from opgraph.instance_config import InstanceConfig
from opgraph_app import create_app
from opgraph_app.cli import main
from opgraph_storage.migration import head_revision
from opgraph_storage.records import DaemonHeartbeat

UNREACHABLE_PG = "postgresql://opgraph:hunter2@127.0.0.1:1/opgraph"


@pytest.fixture
def unreachable(tmp_path):
    instance = OpgraphInstance(tmp_path, InstanceConfig(storage={"url": UNREACHABLE_PG}))
    yield instance
    instance.dispose()


@pytest.fixture
def out_of_date(tmp_path):
    """A database with opgraph's tables but no schema revision (e.g. created by hand)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    conn.close()
    instance = OpgraphInstance(tmp_path, InstanceConfig(storage={"url": f"sqlite:///{path}"}))
    yield instance
    instance.dispose()


def test_info(instance, cli):
    instance.storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "daemon-1", time.time() - 3))
    result = cli.invoke(args=["instance", "info"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Home         {instance.home}" in out
    assert f"Config       {instance.home / 'instance.yaml'}" in out
    assert f"Schema       current (revision {head_revision()})" in out
    assert "Coordinator  opgraph_launchers.coordinators.ImmediateRunCoordinator" in out
    assert "Launcher     opgraph_launchers.testing.InMemoryRunLauncher" in out
    assert "SCHEDULER" in out and "daemon-1" in out and "s ago" in out


def test_info_lists_daemon_parts_not_every_worker_the_fleet_had(instance, cli):
    from opgraph_celery.fleet import HEARTBEAT_PREFIX

    storage = instance.storage
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "daemon-1", time.time()))
    for n in range(3):  # workers killed and replaced leave their rows behind
        node = f"w{n}@h"
        storage.add_daemon_heartbeat(
            DaemonHeartbeat(f"{HEARTBEAT_PREFIX}{node}", node, time.time())
        )
    result = cli.invoke(args=["instance", "info", "--json"])
    assert result.exit_code == 0, result.output
    assert [d["type"] for d in json.loads(result.output)["daemons"]] == ["SCHEDULER"]


def test_info_json(make_instance):
    instance = make_instance(coordinator={"queued": {"max_concurrent_runs": 3}})
    result = create_app(instance).test_cli_runner().invoke(args=["instance", "info", "--json"])
    data = json.loads(result.output)
    assert data["home"] == str(instance.home)
    assert data["run_coordinator"]["class"] == "opgraph_launchers.coordinators.QueuedRunCoordinator"
    assert data["run_coordinator"]["config"]["max_concurrent_runs"] == 3
    assert data["daemons"] == []
    assert data["storage_error"] is None
    assert data["schema_revision"] == head_revision()


def test_info_masks_the_password_and_reports_unreachable_storage(unreachable):
    result = create_app(unreachable).test_cli_runner().invoke(args=["instance", "info"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "opgraph:***@127.0.0.1:1/opgraph" in result.output
    assert "cannot connect to the storage database" in result.output
    assert (
        "Launcher     opgraph_launchers.subprocess_launcher.SubprocessRunLauncher" in result.output
    )
    as_json = create_app(unreachable).test_cli_runner().invoke(args=["instance", "info", "--json"])
    data = json.loads(as_json.output)
    assert data["schema_revision"] is None
    assert "cannot connect" in data["storage_error"]


def test_migrate_a_new_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    instance = OpgraphInstance(tmp_path, InstanceConfig(storage={"url": url}))
    result = create_app(instance).test_cli_runner().invoke(args=["instance", "migrate"])
    assert result.exit_code == 0, result.output
    assert f"Storage is at schema revision {head_revision()}." in result.output
    assert instance.storage.get_runs() == []
    instance.dispose()


def test_migrate_an_existing_database(instance, cli):
    run = instance.create_run("etl")
    result = cli.invoke(args=["instance", "migrate"])
    assert result.exit_code == 0, result.output
    assert instance.get_run(run.run_id).job_name == "etl"


def test_migrate_unreachable_storage(unreachable):
    result = create_app(unreachable).test_cli_runner().invoke(args=["instance", "migrate"])
    assert result.exit_code == 1
    assert "cannot connect to the storage database" in result.output
    assert "hunter2" not in result.output


# -- /health -----------------------------------------------------------------------------------
def test_health_ok(app):
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "storage": "reachable", "schema": "current"}


def test_health_unreachable_storage(unreachable):
    response = create_app(unreachable).test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["storage"] == "unreachable"
    assert "cannot connect to the storage database" in body["reason"]
    assert "hunter2" not in body["reason"]


def test_health_schema_out_of_date(out_of_date):
    response = create_app(out_of_date).test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["schema"] == "out of date"
    assert "opgraph instance migrate" in body["reason"]


def test_health_broken_instance_yaml(tmp_path, monkeypatch):
    (tmp_path / "instance.yaml").write_text("storage:\n  urll: x\n")
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    response = create_app().test_client().get("/health")
    assert response.status_code == 503
    assert "unknown key storage.urll" in response.get_json()["reason"]


# -- the `opgraph` console script ---------------------------------------------------------------
def test_console_script_uses_opgraph_home(tmp_path, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    instance = OpgraphInstance.get(tmp_path)
    run = instance.create_run("etl")
    instance.dispose()

    runner = CliRunner()
    result = runner.invoke(main, ["runs", "list"], env={"OPGRAPH_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert run.run_id in result.output

    help_text = runner.invoke(main, ["--help"], env={"OPGRAPH_HOME": str(tmp_path)}).output
    assert "runs" in help_text and "instance" in help_text


def test_a_broken_instance_yaml_is_one_clean_error(tmp_path):
    (tmp_path / "instance.yaml").write_text("storage:\n  postgres:\n    prot: 5\n")
    result = CliRunner().invoke(main, ["runs", "list"], env={"OPGRAPH_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "instance.yaml:3: unknown key storage.postgres.prot" in result.output
    assert "Traceback" not in result.output


def test_unreachable_storage_is_one_clean_error(unreachable):
    result = create_app(unreachable).test_cli_runner().invoke(args=["runs", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to the storage database")
    assert "hunter2" not in result.output
