"""Fuzzing the GraphQL boundary: whatever a client sends, the answer is a typed error, a
GraphQL `errors` list or a 400 (413) as JSON; never a 500, never a traceback, and never a
run created by a malformed request."""

import json
import socket
import threading
import time
import urllib.parse
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
from opgraph_app.hosts import LOOPBACK_NAMES, host_allowed
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus
from tests.hardening.test_data_bounds import alias_bomb
from tests.web_server import JOBS, OPGRAPH_WEBSERVER, Webserver, make_home

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


# -- everything of issue #13 at once, on a real `opgraph webserver` over PostgreSQL -----------
# The production command (gunicorn, the gevent worker, PYTHONMALLOC=malloc), under a siege
# held for the whole run: live streams of a running run that gets an event every 0.2 s,
# and slow clients that trickle header lines. Hypothesis then sends hostile GraphQL
# (values, run configs, aliases that amplify), stream URLs, Host headers, GraphiQL URLs
# and malformed HTTP. No answer is a 5xx, except the stream cap's documented 503 with
# Retry-After; /health answers throughout; the worker's memory stays bounded.
MAX_STREAMS = 40
SIEGE_STREAMS = 20
SLOW_CLIENTS = 20
LIVE, DONE = "fuzz-live-run", "fuzz-done-run"

SPECIAL_TEXT = {
    "timestamp": "ops: {emit: {config: {n: 2024-01-01}}}",
    "binary": "n: !!binary aGVsbG8=",
    "set": "n: !!set {a}",
    "python": "n: !!python/object/apply:os.system [id]",
    "recursive": "a: &a [*a]",
    "system tag": "opgraph/schedule_name",
}
# Built when drawn, so that the strategies' reprs stay short.
BUILT_TEXT = {
    "deep yaml": lambda: "[" * 300 + "]" * 300,
    "huge int yaml": lambda: "n: " + "9" * 5000,
    "alias bomb": lambda: alias_bomb(9),
    "deep flow yaml": lambda: "a: " + "{b: " * 500 + "1" + "}" * 500,
}
hostile_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "a", "/", "..", "é"]), max_size=8).map(
        "".join
    ),
    st.integers(200, 9000).map(lambda n: "k" * n),  # past the tag, step key and id limits
    st.sampled_from(sorted(SPECIAL_TEXT)).map(SPECIAL_TEXT.__getitem__),
    st.sampled_from(sorted(BUILT_TEXT)).map(lambda name: BUILT_TEXT[name]()),
)
hostile_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(0, 4299).map(lambda n: 10**n)  # json.dumps writes up to 4,300 digits
    | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["key", "value", "n", "ops"]), inner, max_size=3)
    ),
    max_leaves=8,
)
HOSTILE_QUERY = """query($s: String, $i: Int, $c: GenericScalar, $l: [String!], $t: [TagInput!]) {
  runOrError(runId: $s) { __typename }
  runsOrError(limit: $i, cursor: $s, filter: {tags: $t, runIds: $l, jobName: $s}) { __typename }
  logsForRun(runId: $s, limit: $i, afterCursor: $s) { __typename }
  capturedLogs(runId: $s, stepKey: $s, maxBytes: $i, stdoutCursor: $i) { __typename }
  isRunConfigValid(selector: {locationName: "tests", jobName: "numbers"}, runConfigData: $c) {
    __typename }
  executionPlanOrError(selector: {locationName: "tests", jobName: $s}, runConfigData: $c) {
    __typename }
}"""
HOSTILE_MUTATION = """mutation($s: String!, $c: GenericScalar, $l: [String!]!, $t: [TagInput!]) {
  launchRun(executionParams: {selector: {locationName: "tests", jobName: $s},
            runConfigData: $c, executionMetadata: {tags: $t}}) { __typename }
  launchRunReexecution(parentRunId: $s, strategy: SELECTED, stepKeys: $l) { __typename }
  terminateRuns(runIds: $l) { __typename }
  deleteRun(runId: $s) { __typename }
}"""
# Dagster's schema (its client's fields): it has no typed errors, so a refusal is a
# PythonError there; what matters is that none leaks SQL, parameters or paths.
DAGSTER_QUERY = """query($s: ID!) {
  pipelineRunOrError(runId: $s) { __typename ... on PythonError { message } }
  runOrError(runId: $s) { __typename ... on PythonError { message } } }"""
DAGSTER_MUTATION = """mutation($s: String, $c: RunConfigData, $t: [ExecutionTag!]) {
  launchPipelineExecution(executionParams: {selector: {repositoryLocationName: "tests",
      repositoryName: "__repository__", pipelineName: $s}, runConfigData: $c,
      executionMetadata: {tags: $t}}) { __typename ... on PythonError { message } } }"""
LEAKS = ("Traceback", 'File "', "SELECT ", "INSERT ", "sqlalchemy", "psycopg2")


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _no_leak(server: Webserver, text: str) -> None:
    assert not any(leak in text for leak in LEAKS), text[:2000]
    assert str(server.home) not in text, text[:2000]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.sampled_from([HOSTILE_QUERY, HOSTILE_MUTATION, DAGSTER_QUERY, DAGSTER_MUTATION]),
    variables=st.fixed_dictionaries(
        {},
        optional={
            "s": hostile_values,
            "i": hostile_values,
            "c": hostile_values,
            "l": hostile_values,
            "t": st.lists(
                st.fixed_dictionaries({"key": hostile_text, "value": hostile_text}), max_size=25
            )
            | hostile_values,
        },
    ),
    raw=st.none()
    | st.integers(90, 3000).map(_deep)
    | st.integers(4290, 6000).map(lambda n: "9" * n),  # an integer past 4,300 digits
)
def _hostile_requests(webserver, query, variables, raw):
    body = json.dumps({"query": query, "variables": variables})
    if raw is not None:  # deep JSON or a huge number, spliced in where a variable goes
        body = body.replace('"variables": {', f'"variables": {{"deep": {raw}, ', 1)
    status, _, data = webserver.request(
        "/graphql", body.encode(), {"Content-Type": "application/json"}, timeout=120
    )
    text = data.decode()
    assert status in (200, 400, 413), (status, text[:500])
    _no_leak(webserver, text)
    answer = json.loads(text)
    assert "data" in answer or "errors" in answer
    if query in (DAGSTER_QUERY, DAGSTER_MUTATION):
        return
    for value in (answer.get("data") or {}).values():
        # Anything unexpected would be a PythonError: every hostile value has a typed answer.
        assert value["__typename"] != "PythonError", (variables, value)


AMPLIFIERS = [
    'capturedLogs(runId: "{run}", stepKey: "emit", maxBytes: {n}) {{ __typename }}',
    'logsForRun(runId: "{run}", limit: {n}) {{ __typename '
    "... on EventConnection {{ events {{ message }} }} }}",
    "runsOrError(limit: {n}) {{ __typename "
    "... on Runs {{ results {{ runId tags {{ key value }} }} }} }}",
    'runsOrError(filter: {{runIds: ["{run}"]}}, limit: {n}) {{ __typename }}',
]
sizes = st.sampled_from([1, 1000, 10_000, 4_194_304, 2**31 - 1, -1, 0]) | st.integers(-5, 10**7)


@st.composite
def amplified(draw) -> tuple[str, dict]:
    """Many aliases of fields that answer lists or bytes; the size literal or a variable."""
    fields = draw(st.lists(st.sampled_from(AMPLIFIERS), min_size=1, max_size=4))
    count = draw(st.integers(1, 200))
    run = draw(st.sampled_from([LIVE, DONE, "nope"]))
    size = draw(sizes)
    in_variable = draw(st.booleans())
    selections = " ".join(
        f"a{i}: " + fields[i % len(fields)].format(run=run, n="$n" if in_variable else size)
        for i in range(count)
    )
    if in_variable:
        return f"query($n: Int) {{ {selections} }}", {"n": size}
    return f"{{ {selections} }}", {}


def _raw_exchange(server: Webserver, data: bytes, read_all: bool = True) -> bytes:
    """Send raw bytes on a new connection; what the server answers before closing (or, with
    `read_all` false, its status line and headers only)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        try:
            sock.sendall(data)
        except OSError:  # refused before all of it was read
            pass
        answer = b""
        while read_all or b"\r\n\r\n" not in answer:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1."):
        return None  # closed without an answer (a connection the parser gave up on)
    return int(answer.split(b" ", 2)[1])


path_text = hostile_text | st.sampled_from([LIVE, DONE, "nope", "", ".", "..", "a/b"])
cursor_text = st.none() | hostile_text | st.integers(-(2**70), 2**70).map(str)
http_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=60,
)
raw_http = st.one_of(
    st.binary(max_size=200).map(lambda b: b + b"\r\n\r\n"),
    st.sampled_from(
        [
            b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            b"GET /runs/%00/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            b"GET /health HTTP/1.1\r\nX-Long: " + b"x" * 20_000 + b"\r\n\r\n",
            b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n",
            b"GET /health HTTP/1.1\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n",
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n{",
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"fffffffffffffffff\r\n",
            b"GET /graphql?query=%ff%fe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ]
    ),
)
GRAPHIQL_MARK = "zq7fuzzmark"
http_requests = st.one_of(
    st.tuples(st.just("graphql"), amplified()),
    st.tuples(st.just("stream"), st.tuples(path_text, cursor_text)),
    st.tuples(st.just("host"), st.tuples(http_text, st.sampled_from(["/", "/graphql", "/runs"]))),
    st.tuples(st.just("graphiql"), hostile_text),
    st.tuples(st.just("raw"), raw_http),
)


def _check_amplified(server: Webserver, request: tuple[str, dict]) -> None:
    query, variables = request
    status, _, data = server.request(
        "/graphql",
        json.dumps({"query": query, "variables": variables}).encode(),
        {"Content-Type": "application/json"},
        timeout=120,
    )
    text = data.decode()
    assert status in (200, 400), (status, text[:500])
    _no_leak(server, text)
    answer = json.loads(text)
    for value in (answer.get("data") or {}).values():
        assert value["__typename"] != "PythonError", value
    assert len(data) <= 32 * 1024 * 1024 + 1024  # webserver.limits.max_response_bytes


def _check_stream(server: Webserver, request: tuple[str, str | None]) -> None:
    run_id, cursor = request
    path = "/runs/" + urllib.parse.quote(run_id.encode("utf-8", "surrogatepass"), safe="")
    if cursor is not None:
        path += "/events?after=" + urllib.parse.quote(cursor.encode("utf-8", "surrogatepass"))
    else:
        path += "/events"
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    # A stream of the running run stays open: read its head only, then hang up.
    answer = _raw_exchange(server, head, read_all=run_id != LIVE)
    status = _status(answer)
    assert status is not None and (status < 500 or status == 503), answer[:500]
    if status == 503:  # the stream cap (webserver.max_streams), never anything else
        assert b"Retry-After: 5" in answer and b"webserver.max_streams" in answer, answer[:500]
    _no_leak(server, answer.decode("utf-8", "replace"))


def _check_host(server: Webserver, request: tuple[str, str]) -> None:
    host, path = request
    data = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")
    answer = _raw_exchange(server, data, read_all=False)
    status = _status(answer)
    assert status is None or status < 500, answer[:500]
    if status == 200:  # answered: only a loopback name (the default allowed hosts)
        assert host_allowed(host, list(LOOPBACK_NAMES)), (host, answer[:300])


def _check_graphiql(server: Webserver, text: str) -> None:
    query = urllib.parse.quote((GRAPHIQL_MARK + text).encode("utf-8", "surrogatepass"))
    status, headers, body = server.request(
        f"/graphql?query={query}", headers={"Accept": "text/html"}, timeout=60
    )
    assert status < 500, body[:500]
    if status == 200 and headers.get("Content-Type", "").startswith("text/html"):
        page = body.decode()
        assert GRAPHIQL_MARK not in page and "<script>" not in page, page[:500]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]


def _check_raw(server: Webserver, data: bytes) -> None:
    answer = _raw_exchange(server, data)
    status = _status(answer)
    assert status is None or status < 500, answer[:500]


CHECKS = {
    "graphql": _check_amplified,
    "stream": _check_stream,
    "host": _check_host,
    "graphiql": _check_graphiql,
    "raw": _check_raw,
}


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=http_requests)
def _hostile_http(server: Webserver, request: tuple[str, object]) -> None:
    kind, payload = request
    CHECKS[kind](server, payload)


class Siege(threading.Thread):
    """Live streams of LIVE and slow clients, held (and replaced once cut off) until
    stopped; LIVE gets a log event every 0.2 s so that the streams carry data."""

    def __init__(self, server: Webserver, storage) -> None:
        super().__init__(daemon=True)
        self.server, self.storage = server, storage
        self.stopped = threading.Event()
        self.streams = [self._stream() for _ in range(SIEGE_STREAMS)]
        self.slow = [self._slow_client() for _ in range(SLOW_CLIENTS)]
        self.cut_off = 0
        self.events = 0

    def _stream(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        sock.sendall(f"GET /runs/{LIVE}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return sock

    def _slow_client(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        sock.setblocking(False)  # peeked at and written to between events, never waited on
        return sock

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            message = f"line {self.events}"
            self.storage.store_events([EventRecord(LIVE, "LOG", time.time(), message=message)])
            self.events += 1
            for index, sock in enumerate(self.slow):
                try:
                    if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        raise ConnectionResetError  # the server hung up on it
                    raise ConnectionResetError  # it answered something: done as well
                except BlockingIOError:  # nothing to read: still open, trickle one more line
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                        continue
                    except OSError:
                        pass
                except OSError:
                    pass
                sock.close()
                self.cut_off += 1
                self.slow[index] = self._slow_client()

    def stop(self) -> bytes:
        """Stop; what the first stream received meanwhile."""
        self.stopped.set()
        self.join(30)
        received = b""
        self.streams[0].settimeout(5)
        try:
            while len(received) < 1 << 20:
                chunk = self.streams[0].recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        for sock in self.streams + self.slow:
            sock.close()
        return received


@pytest.fixture
def production(tmp_path: Path, pg_storage_url: str) -> Iterator[tuple[Webserver, object]]:
    home = make_home(tmp_path, pg_storage_url, webserver={"max_streams": MAX_STREAMS})
    storage = create_storage(pg_storage_url)
    storage.add_run(RunRecord(run_id=LIVE, job_name="numbers", status=RunStatus.STARTED))
    storage.add_run(RunRecord(run_id=DONE, job_name="numbers", status=RunStatus.STARTED))
    end = EventRecord(DONE, "RUN_SUCCESS", time.time())
    storage.append_run_event(end, RunStatus.SUCCESS, [RunStatus.STARTED], lambda _: None)
    server = Webserver(home, command=[*OPGRAPH_WEBSERVER, "--header-timeout", "2"])
    yield server, storage
    server.stop()
    storage.dispose()


def test_issue_13_on_a_real_server_never_5xx_and_it_stays_up_and_small(production):
    from tests.graphql.test_hostile import _worker_rss_kb

    server, storage = production
    for _ in range(20):  # warm: imports, connections, the workspace
        server.request("/graphql", json.dumps({"query": HOSTILE_QUERY}).encode(), timeout=60)
    before = _worker_rss_kb(server)
    siege = Siege(server, storage)
    siege.start()
    try:
        assert server.request("/health", timeout=30)[0] == 200
        _hostile_requests(server)
        assert server.request("/health", timeout=30)[0] == 200
        _hostile_http(server)
        assert server.request("/health", timeout=30)[0] == 200
    finally:
        received = siege.stop()
    assert received.startswith(b"HTTP/1.1 200") and b"run_event" in received, received[:300]
    assert siege.cut_off > 0, "no slow client was ever cut off"
    assert storage.get_runs_count() == 2  # no request created a run
    grown_mb = (_worker_rss_kb(server) - before) / 1024
    assert grown_mb < 150, f"the worker grew by {grown_mb:.0f} MB over the fuzzing"
