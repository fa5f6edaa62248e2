"""`runs list --since`, `logs --step/--stdout/--stderr`, `export`, `wipe`, `reexecute`,
`launch JOB` from the workspace; and the CLI as a real subprocess."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opgraph.events import EventType
from opgraph.reexecution import PARENT_RUN_ID_TAG, STRATEGY_TAG
from opgraph.workspace.base import Workspace
from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph_app import create_app
from opgraph_storage.records import RunRecord, RunStatus
from tests.app.test_cli_runs import finished_run, invoke
from tests.web_server import JOBS

ROOT = Path(__file__).resolve().parents[2]


def test_list_since(instance, cli):
    instance.storage.add_run(RunRecord(run_id="old", job_name="etl", created_at=time.time() - 7200))
    recent = finished_run(instance)

    result = invoke(cli, "runs", "list", "--since", "1h", "--json")

    assert result.exit_code == 0, result.output
    assert [run["run_id"] for run in json.loads(result.output)] == [recent.run_id]
    both = json.loads(invoke(cli, "runs", "list", "--since", "2000-01-01", "--json").output)
    assert len(both) == 2
    bad = invoke(cli, "runs", "list", "--since", "yesterday")
    assert bad.exit_code == 2
    assert "expected a duration such as 30m" in bad.output and "'yesterday'" in bad.output


def test_logs_of_one_step_and_its_captured_output(instance, cli):
    run = finished_run(instance)
    run_dir = instance.compute_logs_dir / run.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "load.out").write_text("loaded 3 rows\n")
    (run_dir / "load.err").write_text("warning: slow\n")
    (run_dir / "extract.out").write_text("extracting\n")

    step = invoke(cli, "runs", "logs", run.run_id, "--step", "load")
    assert step.exit_code == 0, step.output
    assert {line.split()[2] for line in step.output.splitlines()} == {
        "STEP_START",
        "STEP_UP_FOR_RETRY",
        "STEP_RESTARTED",
        "STEP_SUCCESS",
    }
    assert all("[load]" in line for line in step.output.splitlines())

    out = invoke(cli, "runs", "logs", run.run_id, "--step", "load", "--stdout")
    assert out.output == "loaded 3 rows\n"
    err = invoke(cli, "runs", "logs", run.run_id, "--step", "load", "--stderr")
    assert err.output == "warning: slow\n"
    every = invoke(cli, "runs", "logs", run.run_id, "--stdout")
    assert "== load ==\nloaded 3 rows\n" in every.output
    assert "== extract ==\nextracting\n" in every.output
    mixed = invoke(cli, "runs", "logs", run.run_id, "--stdout", "--json")
    assert mixed.exit_code == 2


def test_export(instance, cli, tmp_path):
    run = finished_run(instance, tags={"team": "data"})

    result = invoke(cli, "runs", "export", run.run_id)

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["run"]["run_id"] == run.run_id
    assert document["run"]["tags"]["team"] == "data"
    types = [event["event_type"] for event in document["events"]]
    assert types[0] == "RUN_STARTING" and types[-1] == "RUN_SUCCESS"
    assert [step["step_key"] for step in document["steps"]] == ["extract", "load"]
    target = tmp_path / "run.json"
    written = invoke(cli, "runs", "export", run.run_id, "-o", str(target))
    assert written.exit_code == 0
    assert json.loads(target.read_text()) == document
    assert invoke(cli, "runs", "export", "nope").exit_code == 2


def test_wipe_needs_yes_and_keeps_live_runs(instance, cli):
    finished = [finished_run(instance) for _ in range(3)]
    live = instance.submit_run(instance.create_run("etl").run_id)

    refused = invoke(cli, "runs", "wipe")
    assert refused.exit_code == 2
    assert "opgraph runs wipe --yes" in refused.output
    assert instance.storage.get_runs_count() == 4

    result = invoke(cli, "runs", "wipe", "--yes")
    assert result.exit_code == 0, result.output
    assert "Deleted 3 runs." in result.output and "Kept 1 live runs" in result.output
    assert [run.run_id for run in instance.storage.get_runs()] == [live.run_id]
    assert instance.storage.get_events(finished[0].run_id) == []


def test_reexecute(instance, cli):
    failed = finished_run(instance, outcome=EventType.RUN_FAILURE)

    result = invoke(cli, "runs", "reexecute", failed.run_id, "--from-failure")

    assert result.exit_code == 0, result.output
    [child, _parent] = instance.storage.get_runs()
    assert child.parent_run_id == failed.run_id and child.root_run_id == failed.run_id
    assert child.tags[STRATEGY_TAG] == "FROM_FAILURE"
    assert child.tags[PARENT_RUN_ID_TAG] == failed.run_id
    assert child.status is RunStatus.STARTING  # submitted to the (in-memory) launcher
    assert f"Run {child.run_id} of job etl: STARTING" in result.output

    selected = invoke(cli, "runs", "reexecute", failed.run_id, "--step", "load")
    assert selected.exit_code == 0, selected.output
    assert instance.storage.get_runs()[0].tags[STRATEGY_TAG] == "SELECTED"

    succeeded = finished_run(instance)
    refused = invoke(cli, "runs", "reexecute", succeeded.run_id, "--from-failure")
    assert refused.exit_code == 2 and "leave out --from-failure" in refused.output
    both = invoke(cli, "runs", "reexecute", failed.run_id, "--from-failure", "--step", "x")
    assert both.exit_code == 2
    live = invoke(cli, "runs", "reexecute", child.run_id)
    assert live.exit_code == 2 and "only finished runs can be re-executed" in live.output


def test_launch_job_from_the_workspace(instance, tmp_path):
    (tmp_path / "jobs.py").write_text(JOBS)
    location = InProcessCodeLocation("tests", {"python_file": str(tmp_path / "jobs.py")})
    cli = create_app(instance, Workspace([location])).test_cli_runner()
    config = tmp_path / "run.yaml"
    config.write_text("ops: {emit: {config: {n: 4}}}\n")

    result = invoke(cli, "runs", "launch", "numbers", "-c", str(config), "--tag", "a=b")

    assert result.exit_code == 0, result.output
    [run] = instance.storage.get_runs()
    assert run.location_name == "tests" and run.tags["a"] == "b"
    assert run.code_pointer["python_file"] == str(tmp_path / "jobs.py")
    unknown = invoke(cli, "runs", "launch", "letters")
    assert unknown.exit_code == 2 and "letters" in unknown.output
    config.write_text("ops: {emit: {config: {n: four}}}\n")
    invalid = invoke(cli, "runs", "launch", "numbers", "-c", str(config))
    assert invalid.exit_code == 2 and "ops.emit.config.n" in invalid.output
    assert instance.storage.get_runs_count() == 1
    nothing = invoke(cli, "runs", "launch")
    assert nothing.exit_code == 2 and "name a job" in nothing.output


# -- the real command line -----------------------------------------------------------------
def opgraph(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPGRAPH_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "opgraph_app", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def pg_home(tmp_path: Path, pg_storage_url: str) -> Path:
    from tests.web_server import make_home

    return make_home(tmp_path, pg_storage_url)


def test_cli_subprocess_exit_codes_and_stderr(pg_home, tmp_path):
    marker = tmp_path / "fail"
    marker.write_text("x")
    jobs = str(tmp_path / "code" / "jobs.py")
    env = {"OPGRAPH_TEST_FAIL_MARKER": str(marker)}
    failed = opgraph(pg_home, "runs", "launch", "-f", jobs, "numbers", "--wait", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "finished: FAILURE" in failed.stdout
    assert "step flaky failed:" in failed.stdout and "flaky failed on purpose" in failed.stdout
    assert "4/4 steps" in failed.stdout  # flaky failed, report skipped: all done

    listed = opgraph(pg_home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert run["status"] == "FAILURE"

    marker.unlink()
    reexec = opgraph(
        pg_home, "runs", "reexecute", run["run_id"], "--from-failure", "--wait", env=env
    )
    assert reexec.returncode == 0, reexec.stdout + reexec.stderr
    assert "finished: SUCCESS" in reexec.stdout

    usage = opgraph(pg_home, "runs", "wipe")
    assert usage.returncode == 2
    assert usage.stdout == ""
    assert usage.stderr.strip().splitlines()[-1] == (
        "Error: this deletes every finished run and its events; to go ahead: "
        "opgraph runs wipe --yes"
    )
    missing = opgraph(pg_home, "runs", "show", "nope")
    assert missing.returncode == 2 and "no run with id 'nope'" in missing.stderr
    wiped = opgraph(pg_home, "runs", "wipe", "--yes")
    assert wiped.returncode == 0 and "Deleted 2 runs." in wiped.stdout
