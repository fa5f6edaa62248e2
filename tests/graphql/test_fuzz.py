"""Fuzzing the GraphQL boundary: whatever a client sends, the answer is a typed error, a
GraphQL `errors` list or a 400 (413) as JSON; never a 500, never a traceback, and never a
run created by a malformed request."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import Workspace
from opgraph.workspace.in_process import InProcessCodeLocation
from opgraph_app import create_app
from tests.web_server import JOBS

FIELDS = [
    "runsOrError",
    "runOrError",
    "logsForRun",
    "capturedLogs",
    "workspaceOrError",
    "isRunConfigValid",
    "executionPlanOrError",
    "instance",
    "launchRun",
    "launchRunReexecution",
    "terminateRun",
    "terminateRuns",
    "deleteRun",
    "__schema",
]
ARGS = [
    "runId",
    "limit",
    "cursor",
    "afterCursor",
    "filter",
    "stepKey",
    "selector",
    "runConfigData",
    "executionParams",
    "parentRunId",
    "strategy",
    "stepKeys",
    "policy",
    "runIds",
    "maxBytes",
    "stdoutCursor",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
literal = st.sampled_from(
    [
        '"x"',
        "-1",
        "0",
        "99999999999999999999",
        "1.5",
        "null",
        "true",
        "[]",
        "{}",
        '"../.."',
        "FORCE",
        "SAFE",
        "FROM_FAILURE",
        '{locationName: "nowhere", jobName: "numbers"}',
        '{selector: {locationName: "fuzz", jobName: "nojob"}}',
        '"ops: [x"',
        "$v",
        '"\\u0000"',
    ]
)


@st.composite
def documents(draw) -> str:
    """Near-valid GraphQL: real field and argument names, wrong shapes and values."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(FIELDS))
        args = draw(st.lists(st.tuples(st.sampled_from(ARGS), literal), max_size=3))
        arg_text = "(" + ", ".join(f"{n}: {v}" for n, v in args) + ")" if args else ""
        body = draw(
            st.sampled_from(
                [
                    "{ __typename }",
                    "{ __typename ... on Error { message } }",
                    "",
                    "{ nope }",
                    "{ ... on Runs { results { runId stepStats { stepKey } } } }",
                    "{",
                ]
            )
        )
        parts.append(f"{field}{arg_text} {body}")
    keyword = draw(
        st.sampled_from(["", "query ", "mutation ", "subscription ", "query Q($v: Int) "])
    )
    text = keyword + "{ " + " ".join(parts) + " }"
    if draw(st.booleans()):  # damage it
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5)) + text[cut:]
    return text


bodies = st.one_of(
    st.builds(
        lambda q, v, o: json.dumps({"query": q, "variables": v, "operationName": o}),
        documents() | st.text(max_size=50) | json_values,
        json_values,
        st.none() | st.text(max_size=5) | st.integers(),
    ),
    st.builds(json.dumps, json_values),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


@pytest.fixture
def client(tmp_path: Path, pg_storage_url: str) -> Iterator[tuple]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "instance.yaml").write_text(
        yaml.safe_dump(
            {
                "storage": {"url": pg_storage_url},
                "run_launcher": {
                    "module": "opgraph_launchers.testing",
                    "class": "InMemoryRunLauncher",
                },
            }
        )
    )
    (tmp_path / "jobs.py").write_text(JOBS)
    location = InProcessCodeLocation("fuzz", {"python_file": str(tmp_path / "jobs.py")})
    instance = OpgraphInstance.get(home)
    app = create_app(instance, Workspace([location]))
    yield app.test_client(), instance
    instance.dispose()


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain"]))
def test_malformed_requests_never_500(client, body, content_type):
    test_client, instance = client
    response = test_client.post(
        "/graphql", data=body.encode("utf-8", "surrogatepass"), content_type=content_type
    )
    text = response.get_data(as_text=True)
    assert response.status_code in (200, 400, 413), (body, response.status_code, text)
    assert "Traceback" not in text and 'File "' not in text
    answer = json.loads(text)
    assert isinstance(answer, dict) and ("data" in answer or "errors" in answer)
    if response.status_code != 200:
        assert answer["errors"][0]["message"]
    assert instance.storage.get_runs_count() == 0  # nothing half-created


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=documents(), variables=st.dictionaries(st.sampled_from(["v", "id", "x"]), json_values))
def test_query_strings_over_get_never_500(client, query, variables):
    test_client, instance = client
    response = test_client.get(
        "/graphql", query_string={"query": query, "variables": json.dumps(variables)}
    )
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert instance.storage.get_runs_count() == 0
