"""Dagster's own GraphQL client (`dagster_graphql.DagsterGraphQLClient`) drives opgraph.

dagster-graphql is not a dependency of opgraph: this test installs the pinned version in a
virtualenv of its own (kept in the temporary directory, keyed on the version, so that it is
built once per machine), starts a real `opgraph webserver` over PostgreSQL with a real code
location, and runs tests/compat/dagster_client_script.py with that virtualenv's Python.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import pytest

from tests.web_server import Webserver, make_home

DAGSTER_GRAPHQL_VERSION = "1.13.29"
SCRIPT = Path(__file__).with_name("dagster_client_script.py")


def _client_python() -> Path:
    """The Python of a virtualenv with dagster-graphql; built on first use, under a lock."""
    root = Path(tempfile.gettempdir()) / f"opgraph-dagster-graphql-{DAGSTER_GRAPHQL_VERSION}"
    python = root / "bin" / "python"
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes must not build it at once
        ready = root / ".installed"
        if not ready.exists():
            venv.create(root, with_pip=True, clear=True)
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"dagster-graphql=={DAGSTER_GRAPHQL_VERSION}",
                ],
                check=True,
                timeout=1800,
            )
            ready.write_text(DAGSTER_GRAPHQL_VERSION)
    return python


@pytest.fixture
def server(tmp_path: Path, pg_storage_url: str):
    home = make_home(tmp_path, pg_storage_url)
    command = [str(Path(sys.executable).parent / "opgraph"), "webserver", "--port", "{port}"]
    started = Webserver(home, command=command)
    yield started
    started.stop()


def test_dagster_graphql_client_drives_opgraph(server: Webserver):
    python = _client_python()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of opgraph's
    done = subprocess.run(
        [python, SCRIPT, str(server.port), "tests"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    assert done.returncode == 0, done.stderr[-4000:] + server.output()[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])

    assert results["inferred_status"] == "SUCCESS"
    assert results["explicit_status"] == "SUCCESS"
    inferred = server.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
        {"id": results["run_ids"][0]},
    )["runOrError"]
    assert {"key": "origin", "value": "dagster"} in inferred["tags"]

    assert results["unknown_job_inferred"][0] == "JobNotFoundError"
    kind, message = results["unknown_job"]
    assert kind == "PipelineNotFoundError" and "'nope'" in message
    kind, errors = results["invalid_config"]
    assert kind == "PipelineConfigValidationInvalid"
    assert errors[0]["path"] == ["ops", "emit", "config", "n"]
    assert errors[0]["reason"] == "RUNTIME_TYPE_MISMATCH" and "'three'" in errors[0]["message"]
    assert results["op_selection_status"] == "SUCCESS"
    selected = server.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { jobName stepStats {"
        " stepKey status } tags { key value } } } }",
        {"id": results["op_selection_run"]},
    )["runOrError"]
    assert selected["jobName"] == "numbers"
    assert {"key": "opgraph/op_selection", "value": "*double"} in selected["tags"]
    assert {s["stepKey"]: s["status"] for s in selected["stepStats"]} == {
        "emit": "SUCCESS",
        "double": "SUCCESS",
    }
    kind, errors = results["op_selection_input_missing"]
    assert kind == "PipelineConfigValidationInvalid"
    assert errors[0]["path"] == ["ops", "report", "inputs", "n"]
    kind, message = results["op_selection_unknown"]
    assert kind == "InvalidStepError" and "'nope+' matches no op" in message
    assert results["unknown_run_status"][0] == "PipelineRunNotFoundError"
    kind, message = results["system_tag"]  # the platform's own tags, refused as by launchRun
    assert kind == "PythonError" and "opgraph/launched_by" in message

    assert results["terminate"] is None and results["terminated_status"] == "CANCELED"
    assert results["terminate_runs"] is None
    assert results["terminate_runs_statuses"] == ["CANCELED", "CANCELED"]
    kind, message = results["terminate_runs_unknown"]
    assert kind == "TerminateRunsError" and "RunNotFoundError" in message
    assert results["terminate_unknown"][0] == "RunNotFoundError"

    assert results["reload"] == ["SUCCESS", None, None]
    status, failure, message = results["reload_unknown"]
    assert (status, failure) == ("FAILURE", "RepositoryLocationNotFound") and "nowhere" in message
    assert results["shutdown"] == ["SUCCESS", None]
    assert results["after_shutdown_status"] == "SUCCESS"

    locations = server.gql(
        "{ repositoryLocationsOrError { __typename ... on RepositoryLocationConnection { nodes {"
        " __typename ... on RepositoryLocation { name repositories { name jobs { name } } } } } } }"
    )["repositoryLocationsOrError"]
    [location] = locations["nodes"]
    assert location["name"] == "tests"
    [repository] = location["repositories"]
    assert repository["name"] == "__repository__"
    assert {"name": "numbers"} in repository["jobs"]
