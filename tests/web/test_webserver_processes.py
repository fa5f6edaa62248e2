"""Webserver processes on one PostgreSQL: read-only mode, the bearer token, two replicas."""

import json
import threading
import time
import urllib.request
from pathlib import Path

from tests.web_server import Webserver, make_home

LAUNCH = """
mutation($job: String!) {
  launchRun(executionParams: {selector: {locationName: "tests", jobName: $job}}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message }
  }
}
"""
STATUS = "query($id: String!) { runOrError(runId: $id) { ... on Run { status } } }"
COUNT = "{ runsOrError { ... on Runs { count } } }"


def test_read_only_flag_refuses_mutations(tmp_path, pg_storage_url, opgraph_webserver):
    home = make_home(tmp_path, pg_storage_url)
    server = opgraph_webserver(home, "--read-only", "--threads", "4")

    refused = server.gql(LAUNCH, {"job": "numbers"})["launchRun"]

    assert refused["__typename"] == "ReadOnlyError"
    assert "read-only" in refused["message"]
    assert server.gql("{ instance { readOnly } }") == {"instance": {"readOnly": True}}
    assert server.gql(COUNT)["runsOrError"]["count"] == 0
    deleted = server.gql('mutation { deleteRun(runId: "x") { __typename } }')
    assert deleted["deleteRun"]["__typename"] == "ReadOnlyError"


def test_read_only_instance_setting(tmp_path, pg_storage_url, servers):
    home = make_home(tmp_path, pg_storage_url, webserver={"read_only": True})
    server = Webserver(home)
    servers.append(server)
    assert server.gql(LAUNCH, {"job": "numbers"})["launchRun"]["__typename"] == "ReadOnlyError"


def test_bearer_token_guards_mutations_only(tmp_path, pg_storage_url, servers):
    home = make_home(tmp_path, pg_storage_url, webserver={"auth_token": "s3cret-token"})
    server = Webserver(home)
    servers.append(server)

    assert server.gql(COUNT)["runsOrError"]["count"] == 0  # queries need no token
    for token in (None, "wrong", "s3cret-tokenX", "s3cret"):
        answer = server.gql(LAUNCH, {"job": "numbers"}, token=token)["launchRun"]
        assert answer["__typename"] == "UnauthorizedError", (token, answer)
    assert server.gql(COUNT)["runsOrError"]["count"] == 0
    launched = server.gql(LAUNCH, {"job": "numbers"}, token="s3cret-token")["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert server.gql("{ instance { hasAuthToken } }") == {"instance": {"hasAuthToken": True}}


def _stream_events(url: str, into: list[dict], ended: threading.Event) -> None:
    with urllib.request.urlopen(url, timeout=120) as response:
        kind = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: ") and kind == "run_event":
                into.append(json.loads(line[len("data: ") :]))
            elif line.startswith("data: ") and kind == "end":
                ended.set()
                return


def test_two_webservers_share_one_postgres(tmp_path: Path, pg_storage_url, servers):
    home = make_home(tmp_path, pg_storage_url)
    first, second = Webserver(home), Webserver(home)
    servers += [first, second]

    run_id = first.gql(LAUNCH, {"job": "sleepy"})["launchRun"]["run"]["runId"]

    # ... follows its events live and terminates it.
    # The other replica sees it; wait until its step runs (through the other one's API).
    steps = "query($id: String!) { runOrError(runId: $id) { ... on Run { stepStats { status } } } }"
    deadline = time.monotonic() + 60
    while not second.gql(steps, {"id": run_id})["runOrError"]["stepStats"]:
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.1)
    events: list[dict] = []
    ended = threading.Event()
    reader = threading.Thread(
        target=_stream_events, args=(f"{second.url}/runs/{run_id}/events", events, ended)
    )
    reader.start()
    time.sleep(0.5)
    terminated = second.gql(
        "mutation($id: String!) { terminateRun(runId: $id, policy: FORCE) { __typename } }",
        {"id": run_id},
    )
    assert terminated["terminateRun"]["__typename"] == "TerminateRunSuccess"
    reader.join(60)
    assert ended.is_set()
    types = [event["event_type"] for event in events]
    assert types[0] == "RUN_STARTING" and "RUN_START" in types and "STEP_START" in types
    assert types[-1] == "RUN_CANCELED"
    assert first.gql(STATUS, {"id": run_id})["runOrError"]["status"] == "CANCELED"
    # Resuming from the last event id replays nothing it already sent.
    status, _, body = second.request(
        f"/runs/{run_id}/events", headers={"Last-Event-ID": str(events[-1]["storage_id"])}
    )
    assert status == 200 and b"run_event" not in body and b"event: end" in body
