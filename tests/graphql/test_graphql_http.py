"""The GraphQL API over HTTP: a gunicorn process on PostgreSQL, real run workers."""

import json
import time
import urllib.parse

from opgraph_storage import create_storage
from opgraph_storage.records import RunRecord
from tests.web_server import Webserver

LAUNCH = """
mutation($job: String!, $config: GenericScalar, $tags: [TagInput!]) {
  launchRun(executionParams: {selector: {locationName: "tests", jobName: $job},
                              runConfigData: $config, executionMetadata: {tags: $tags}}) {
    __typename
    ... on LaunchRunSuccess { run { runId status jobName tags { key value } } }
    ... on RunConfigValidationInvalid { message errors { path message } }
    ... on Error { message }
  }
}
"""
RUN = """
query($id: String!) {
  runOrError(runId: $id) {
    __typename
    ... on Run {
      runId status parentRunId rootRunId startTime endTime runConfig
      tags { key value }
      stepStats { stepKey status attempts startTime endTime worker }
    }
    ... on Error { message }
  }
}
"""
LOGS = """
query($id: String!, $after: String, $limit: Int) {
  logsForRun(runId: $id, afterCursor: $after, limit: $limit) {
    __typename
    ... on EventConnection { cursor hasMore events { cursor eventType stepKey message } }
    ... on Error { message }
  }
}
"""


def launch(server: Webserver, job: str = "numbers", config=None, tags=None) -> dict:
    data = server.gql(LAUNCH, {"job": job, "config": config, "tags": tags})["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]


def wait_finished(server: Webserver, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = server.gql(RUN, {"id": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}\n{server.output()}")


def all_events(server: Webserver, run_id: str, limit: int = 5) -> list[dict]:
    events, cursor = [], None
    while True:
        page = server.gql(LOGS, {"id": run_id, "after": cursor, "limit": limit})["logsForRun"]
        assert page["__typename"] == "EventConnection", page
        events += page["events"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return events


def step_starts(events: list[dict]) -> list[str]:
    return [e["stepKey"] for e in events if e["eventType"] in ("STEP_START", "STEP_RESTARTED")]


def test_launch_run_logs_reexecute_terminate_delete(webserver, fail_marker):
    fail_marker.write_text("fail")
    run = launch(
        webserver,
        config={"ops": {"emit": {"config": {"n": 5}}}},
        tags=[{"key": "team", "value": "data"}],
    )
    assert run["status"] in ("STARTING", "STARTED")
    assert {"key": "team", "value": "data"} in run["tags"]

    failed = wait_finished(webserver, run["runId"])
    assert failed["status"] == "FAILURE"
    stats = {s["stepKey"]: s for s in failed["stepStats"]}
    assert stats["emit"]["status"] == "SUCCESS" and stats["double"]["status"] == "SUCCESS"
    assert stats["flaky"]["status"] == "FAILURE" and stats["flaky"]["attempts"] == 1
    assert "report" not in stats or stats["report"]["status"] == "SKIPPED"
    assert stats["emit"]["worker"]  # the run worker's host
    assert stats["emit"]["startTime"] <= stats["emit"]["endTime"]

    events = all_events(webserver, run["runId"], limit=3)  # several pages
    types = [e["eventType"] for e in events]
    assert types[0] == "RUN_STARTING" and "RUN_START" in types and types[-1] == "RUN_FAILURE"
    assert len({e["cursor"] for e in events}) == len(events)  # no event twice across pages
    failure = next(e for e in events if e["eventType"] == "STEP_FAILURE")
    assert failure["stepKey"] == "flaky" and "flaky failed on purpose" in failure["message"]

    logs = webserver.gql(
        'query($id: String!) { capturedLogs(runId: $id, stepKey: "emit") {'
        " __typename ... on CapturedLogs { stdout { data cursor hasMore } } } }",
        {"id": run["runId"]},
    )["capturedLogs"]
    assert logs["stdout"]["data"] == "emitting 5\n" and logs["stdout"]["hasMore"] is False

    # Re-execute from failure: only the failed step and what is downstream of it run.
    fail_marker.unlink()
    reexecute = webserver.gql(
        "mutation($id: String!) { launchRunReexecution(parentRunId: $id, strategy: FROM_FAILURE)"
        " { __typename ... on LaunchRunSuccess { run { runId parentRunId } } ... on Error"
        " { message } } }",
        {"id": run["runId"]},
    )["launchRunReexecution"]
    assert reexecute["__typename"] == "LaunchRunSuccess", reexecute
    child_id = reexecute["run"]["runId"]
    assert reexecute["run"]["parentRunId"] == run["runId"]
    child = wait_finished(webserver, child_id)
    assert child["status"] == "SUCCESS", all_events(webserver, child_id, 100)
    assert child["rootRunId"] == run["runId"]
    assert sorted(step_starts(all_events(webserver, child_id, 100))) == ["flaky", "report"]
    assert child["runConfig"] == {"ops": {"emit": {"config": {"n": 5}}}}

    # Terminate a long run by force: its worker dies and the run is CANCELED at once.
    sleepy = launch(webserver, "sleepy")
    deadline = time.monotonic() + 30
    while webserver.gql(RUN, {"id": sleepy["runId"]})["runOrError"]["status"] != "STARTED":
        assert time.monotonic() < deadline, webserver.output()
        time.sleep(0.1)
    terminated = webserver.gql(
        "mutation($id: String!) { terminateRun(runId: $id, policy: FORCE) { __typename"
        " ... on TerminateRunSuccess { message run { status } } ... on Error { message } } }",
        {"id": sleepy["runId"]},
    )["terminateRun"]
    assert terminated["__typename"] == "TerminateRunSuccess", terminated
    assert terminated["run"]["status"] == "CANCELED"
    assert "run worker terminated" in terminated["message"]

    # Delete: gone from the API, with its events.
    deleted = webserver.gql(
        "mutation($id: String!) { deleteRun(runId: $id) { __typename ... on DeleteRunSuccess"
        " { runId } } }",
        {"id": run["runId"]},
    )["deleteRun"]
    assert deleted == {"__typename": "DeleteRunSuccess", "runId": run["runId"]}
    gone = webserver.gql(RUN, {"id": run["runId"]})["runOrError"]
    assert gone["__typename"] == "RunNotFoundError"
    assert webserver.gql(LOGS, {"id": run["runId"]})["logsForRun"]["__typename"] == (
        "RunNotFoundError"
    )


def test_pagination_over_1000_runs(webserver, pg_storage_url):
    storage = create_storage(pg_storage_url)
    try:
        for i in range(1000):
            tags = {"parity": "even" if i % 2 == 0 else "odd", "hundred": str(i // 100)}
            storage.add_run(
                RunRecord(run_id=f"run-{i:04d}", job_name="numbers", tags=tags, created_at=i + 1)
            )
    finally:
        storage.dispose()
    query = """
    query($cursor: String, $filter: RunsFilter) {
      runsOrError(cursor: $cursor, limit: 150, filter: $filter) {
        __typename ... on Runs { cursor hasMore count results { runId } }
      }
    }
    """
    seen, cursor, pages = [], None, 0
    while True:
        page = webserver.gql(query, {"cursor": cursor})["runsOrError"]
        assert page["count"] == 1000
        seen += [r["runId"] for r in page["results"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["hasMore"]:
            break
    assert pages == 7
    assert seen == [f"run-{i:04d}" for i in reversed(range(1000))]  # newest first, each once

    odd = webserver.gql(query, {"filter": {"tags": [{"key": "parity", "value": "odd"}]}})
    assert odd["runsOrError"]["count"] == 500
    assert odd["runsOrError"]["results"][0]["runId"] == "run-0999"

    window = webserver.gql(query, {"filter": {"createdAfter": 10, "createdBefore": 20}})
    assert [r["runId"] for r in window["runsOrError"]["results"]] == [
        f"run-{i:04d}"
        for i in reversed(range(10, 19))  # created_at = i + 1
    ]

    # The runs list's filter bar: several tags narrow, several run ids widen.
    both = [{"key": "parity", "value": "odd"}, {"key": "hundred", "value": "3"}]
    narrowed = webserver.gql(query, {"filter": {"tags": both}})["runsOrError"]
    assert narrowed["count"] == 50
    assert {r["runId"] for r in narrowed["results"]} == {f"run-{i:04d}" for i in range(301, 400, 2)}
    ids = webserver.gql(query, {"filter": {"runIds": ["run-0007", "run-0900"]}})["runsOrError"]
    assert [r["runId"] for r in ids["results"]] == ["run-0900", "run-0007"]
    reversed_window = webserver.gql(
        "query($filter: RunsFilter) { runsOrError(filter: $filter) { __typename"
        " ... on InvalidArgumentError { argument expected } } }",
        {"filter": {"createdAfter": 20, "createdBefore": 10}},
    )["runsOrError"]
    assert reversed_window == {
        "__typename": "InvalidArgumentError",
        "argument": "filter.createdAfter",
        "expected": "a time no later than filter.createdBefore (10.0)",
    }


def test_every_typed_error(webserver):
    def ask(query: str, variables=None) -> dict:
        [value] = webserver.gql(query, variables).values()
        return value

    missing = ask('{ runOrError(runId: "nope") { __typename ... on Error { message } } }')
    assert missing == {"__typename": "RunNotFoundError", "message": "no run with id 'nope'"}
    limit = ask(
        "{ runsOrError(limit: 5000) { __typename ... on InvalidArgumentError"
        " { argument given expected } } }"
    )
    assert limit == {
        "__typename": "InvalidArgumentError",
        "argument": "limit",
        "given": "5000",
        "expected": "an integer from 1 to 1000",
    }
    cursor = ask('{ runsOrError(cursor: "gone") { __typename } }')
    assert cursor["__typename"] == "InvalidCursorError"
    events_cursor = ask('{ logsForRun(runId: "x", afterCursor: "abc") { __typename } }')
    assert events_cursor["__typename"] == "InvalidCursorError"
    step = ask('{ capturedLogs(runId: "x", stepKey: "../../etc/passwd") { __typename } }')
    assert step["__typename"] == "InvalidArgumentError"

    def launch_error(selector: str, config: str = "null") -> dict:
        return ask(
            "mutation { launchRun(executionParams: {selector: "
            + selector
            + f", runConfigData: {config}}}) {{ __typename ... on Error {{ message }}"
            " ... on RunConfigValidationInvalid { errors { path message } } } }"
        )

    assert launch_error('{locationName: "nowhere", jobName: "numbers"}')["__typename"] == (
        "LocationNotFoundError"
    )
    assert launch_error('{locationName: "tests", jobName: "nojob"}')["__typename"] == (
        "JobNotFoundError"
    )
    invalid = launch_error(
        '{locationName: "tests", jobName: "numbers"}',
        '{ops: {emit: {config: {n: "ten", extra: 1}}}}',
    )
    assert invalid["__typename"] == "RunConfigValidationInvalid"
    assert {e["path"] for e in invalid["errors"]} == {"ops.emit.config.n", "ops.emit.config.extra"}
    yaml_error = launch_error('{locationName: "tests", jobName: "numbers"}', '"ops: [unclosed"')
    assert yaml_error["__typename"] == "InvalidArgumentError"
    assert "malformed YAML" in yaml_error["message"]
    not_mapping = launch_error('{locationName: "tests", jobName: "numbers"}', "[1, 2]")
    assert not_mapping["__typename"] == "InvalidArgumentError"

    valid = ask(
        '{ isRunConfigValid(selector: {locationName: "tests", jobName: "numbers"},'
        " runConfigData: {ops: {emit: {config: {n: 2}}}}) { __typename } }"
    )
    assert valid["__typename"] == "RunConfigValid"
    plan = ask(
        '{ executionPlanOrError(selector: {locationName: "tests", jobName: "numbers"})'
        " { __typename ... on ExecutionPlan { steps { key upstreamKeys } } } }"
    )
    assert {s["key"]: s["upstreamKeys"] for s in plan["steps"]} == {
        "emit": [],
        "double": ["emit"],
        "flaky": ["double"],
        "report": ["flaky"],
    }
    reexec = ask(
        'mutation { launchRunReexecution(parentRunId: "nope", strategy: ALL_STEPS) { __typename } }'
    )
    assert reexec["__typename"] == "RunNotFoundError"
    terminate = ask('mutation { terminateRun(runId: "nope") { __typename } }')
    assert terminate["__typename"] == "RunNotFoundError"
    delete = ask('mutation { deleteRun(runId: "nope") { __typename } }')
    assert delete["__typename"] == "RunNotFoundError"
    # Nothing above created a run.
    runs = ask("{ runsOrError { __typename ... on Runs { count } } }")
    assert runs == {"__typename": "Runs", "count": 0}


def test_running_run_cannot_be_deleted_and_selected_steps_are_checked(webserver):
    sleepy = launch(webserver, "sleepy")
    deleted = webserver.gql(
        "mutation($id: String!) { deleteRun(runId: $id) { __typename ... on RunStatusError"
        " { status message } } }",
        {"id": sleepy["runId"]},
    )["deleteRun"]
    assert deleted["__typename"] == "RunStatusError", deleted
    reexec = webserver.gql(
        "mutation($id: String!) { launchRunReexecution(parentRunId: $id, strategy: ALL_STEPS)"
        " { __typename } }",
        {"id": sleepy["runId"]},
    )["launchRunReexecution"]
    assert reexec["__typename"] == "RunStatusError"
    safe = webserver.gql(
        "mutation($ids: [String!]!) { terminateRuns(runIds: $ids) { __typename"
        " ... on TerminateRunsSuccess { terminateRunResults { __typename } } } }",
        {"ids": [sleepy["runId"], "nope"]},
    )["terminateRuns"]
    assert [r["__typename"] for r in safe["terminateRunResults"]] == [
        "TerminateRunSuccess",
        "RunNotFoundError",
    ]
    wait_finished(webserver, sleepy["runId"], timeout=30)  # CANCELING -> CANCELED
    selected = webserver.gql(
        "mutation($id: String!) { launchRunReexecution(parentRunId: $id, strategy: SELECTED,"
        ' stepKeys: ["nap", "ghost"]) { __typename ... on InvalidStepError'
        " { invalidStepKeys } } }",
        {"id": sleepy["runId"]},
    )["launchRunReexecution"]
    assert selected == {"__typename": "InvalidStepError", "invalidStepKeys": ["ghost"]}


def test_malformed_requests_get_json_400s(webserver):
    cases = [
        (b"\xff\xfe", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"query": 5}', "application/json"),
        (b"{not json", "application/json"),
        (b"query=x", "application/x-www-form-urlencoded"),
        (b'{"query": "{ instance { info } }", "variables": [1]}', "application/json"),
    ]
    for body, content_type in cases:
        status, headers, data = webserver.request("/graphql", body, {"Content-Type": content_type})
        assert status == 400, (body, status, data)
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(data)["errors"][0]["message"]
    big = b'{"query": "' + b" " * (2 * 1024 * 1024) + b'{ instance { info } }"}'
    status, _, data = webserver.request("/graphql", big, {"Content-Type": "application/json"})
    assert status == 413 and json.loads(data)["errors"]
    # Introspection can nest as deep as a client likes: the depth limit stops it.
    too_deep = "{ __schema { types { fields { type " + "{ ofType " * 20 + "{ name }" + " }" * 24
    status, _, data = webserver.request(
        "/graphql", json.dumps({"query": too_deep}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200 and "levels deep; the limit is 20" in data.decode(), data
    status, headers, data = webserver.request("/graphql", headers={"Accept": "text/html"})
    assert status == 200 and b"graphiql" in data.lower()
    query = urllib.parse.quote('mutation { deleteRun(runId: "x") { __typename } }')
    status, _, data = webserver.request(f"/graphql?query={query}")
    assert status == 400 and b"mutations are not allowed" in data
