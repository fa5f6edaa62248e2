"""An unexpected exception answers its class and an error id only, never its text: a
database error's text holds the SQL statement and its parameters, an OS error the absolute
path (issue #13, finding 6). The server log has the whole error under that id."""

import logging
import re
from pathlib import Path

import pytest
import sqlalchemy.exc

from opgraph_app import create_app

SECRET_PATH = "/srv/opgraph/home/compute_logs/secret-run"
SQL = "SELECT runs.run_id FROM runs WHERE runs.job_name = %(job_name_1)s"


def _database_error(*_args, **_kwargs):
    raise sqlalchemy.exc.ProgrammingError(SQL, {"job_name_1": "hunter2"}, Exception(SECRET_PATH))


def _os_error(*_args, **_kwargs):
    raise FileNotFoundError(2, "No such file or directory", SECRET_PATH)


@pytest.fixture
def app(tmp_path: Path):
    from opgraph.instance import OpgraphInstance

    (tmp_path / "instance.yaml").write_text(f"storage: {{url: 'sqlite:///{tmp_path}/db'}}\n")
    instance = OpgraphInstance.get(tmp_path)
    yield create_app(instance), instance
    instance.dispose()


def _leaks(text: str) -> list[str]:
    return [s for s in ("SELECT", "job_name_1", "hunter2", SECRET_PATH, "Traceback") if s in text]


@pytest.mark.parametrize("failure", [_database_error, _os_error])
def test_a_typed_field_answers_python_error_with_class_and_id_only(
    app, monkeypatch, caplog, failure
):
    flask_app, instance = app
    monkeypatch.setattr(instance.storage, "get_runs", failure)
    query = "{ runsOrError { __typename ... on PythonError { message className } } }"
    with caplog.at_level(logging.ERROR):
        response = flask_app.test_client().post("/graphql", json={"query": query})
    assert response.status_code == 200
    assert _leaks(response.get_data(as_text=True)) == []
    answer = response.get_json()["data"]["runsOrError"]
    assert answer["__typename"] == "PythonError", answer
    match = re.search(r"error id ([0-9a-f]{12})", answer["message"])
    assert match and answer["className"] in answer["message"], answer
    # The log has the details under the same id.
    assert match.group(1) in caplog.text and SECRET_PATH in caplog.text


@pytest.mark.parametrize("failure", [_database_error, _os_error])
def test_a_plain_field_error_answers_class_and_id_only(app, monkeypatch, failure):
    flask_app, instance = app
    from opgraph_storage.records import RunRecord

    instance.storage.add_run(RunRecord(run_id="r1", job_name="j"))
    monkeypatch.setattr(instance.storage, "get_events", failure)  # stepStats is not typed
    query = "{ runsOrError { ... on Runs { results { runId stepStats { stepKey } } } } }"
    response = flask_app.test_client().post("/graphql", json={"query": query})
    assert response.status_code == 200
    assert _leaks(response.get_data(as_text=True)) == []
    errors = response.get_json()["errors"]
    assert errors and "error id" in errors[0]["message"], errors
