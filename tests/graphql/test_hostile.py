"""Issue #13's findings, one test each, on a real `opgraph webserver` over PostgreSQL: every
hostile request gets a typed error or a JSON 400 that names its limit, never a 5xx, never
SQL, parameters or paths; `/health` keeps answering and the worker's memory stays bounded."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from opgraph.data_bounds import MAX_INT_DIGITS
from opgraph_storage import create_storage
from opgraph_storage.records import RunRecord
from tests.hardening.test_data_bounds import alias_bomb
from tests.web_server import OPGRAPH_WEBSERVER, Webserver, make_home


@pytest.fixture
def webserver(pg_home: Path) -> Iterator[Webserver]:
    """The production command (gevent worker), not the folder's gthread gunicorn."""
    server = Webserver(pg_home, command=OPGRAPH_WEBSERVER)
    yield server
    server.stop()


SELECTOR = '{locationName: "tests", jobName: "numbers"}'
ERROR_FIELDS = (
    "__typename ... on Error { message } "
    "... on LimitExceededError { limit maximum setting } "
    "... on InvalidArgumentError { argument expected }"
)
VALID = f"""query($c: GenericScalar) {{
  isRunConfigValid(selector: {SELECTOR}, runConfigData: $c) {{ {ERROR_FIELDS} }} }}"""
PLAN = f"""query($c: GenericScalar) {{
  executionPlanOrError(selector: {SELECTOR}, runConfigData: $c) {{ {ERROR_FIELDS} }} }}"""
LAUNCH = f"""mutation($c: GenericScalar, $tags: [TagInput!]) {{
  launchRun(executionParams: {{selector: {SELECTOR}, runConfigData: $c,
                               executionMetadata: {{tags: $tags}}}}) {{ {ERROR_FIELDS} }} }}"""
RUNS = f"""query($tags: [TagInput!], $limit: Int) {{
  runsOrError(filter: {{tags: $tags}}, limit: $limit) {{ {ERROR_FIELDS} }} }}"""


def post(server: Webserver, body: bytes) -> tuple[int, dict]:
    status, _, data = server.request(
        "/graphql", body, {"Content-Type": "application/json"}, timeout=120
    )
    text = data.decode()
    assert status < 500, (status, text)
    assert "Traceback" not in text and str(server.home) not in text, text
    return status, json.loads(text)


def field(server: Webserver, query: str, variables: dict | None = None) -> dict:
    status, answer = post(server, json.dumps({"query": query, "variables": variables}).encode())
    assert status == 200 and "errors" not in answer, answer
    return next(iter(answer["data"].values()))


def runs_count(server: Webserver) -> int:
    storage = create_storage(
        yaml.safe_load((server.home / "instance.yaml").read_text())["storage"]["url"]
    )
    try:
        return storage.get_runs_count()
    finally:
        storage.dispose()


@pytest.mark.parametrize("query", [VALID, PLAN, LAUNCH])
def test_an_alias_bomb_is_refused_at_the_boundary(webserver, query):
    answer = field(webserver, query, {"c": alias_bomb(9)})
    assert answer["__typename"] == "LimitExceededError", answer
    assert answer["limit"] == "the number of values (aliases expanded)"
    assert answer["setting"] == "webserver.limits.run_config.max_nodes"
    assert runs_count(webserver) == 0


def test_a_deep_run_config_is_a_limit_not_a_code_location_error(webserver):
    config: dict = {}
    for _ in range(70):
        config = {"a": config}
    answer = field(webserver, VALID, {"c": config})
    assert answer["__typename"] == "LimitExceededError", answer
    assert "nesting depth" in answer["message"]


@pytest.mark.parametrize("depth", [500, 1000, 20_000])
def test_deep_json_bodies_and_variables_are_400_naming_the_limit(webserver, depth):
    deep = "[" * depth + "]" * depth
    for body in (deep, f'{{"query": "{{ instance {{ info }} }}", "variables": {{"c": {deep}}}}}'):
        status, answer = post(webserver, body.encode())
        assert status == 400, answer
        assert answer["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "nesting depth is over 100" in answer["errors"][0]["message"]


def test_huge_integers_are_refused_without_a_500(webserver):
    digits = "9" * (MAX_INT_DIGITS + 1)
    status, answer = post(
        webserver, (f'{{"query": "{{ instance {{ info }} }}", "n": {digits}}}').encode()
    )
    assert status == 400 and "digits in an integer" in answer["errors"][0]["message"]
    literal = f"{{ isRunConfigValid(selector: {SELECTOR}, runConfigData: {{n: {digits}}}) {{ __typename }} }}"
    status, answer = post(webserver, json.dumps({"query": literal}).encode())
    assert status in (200, 400) and answer.get("errors"), answer
    answer = field(webserver, VALID, {"c": f"ops: {{emit: {{config: {{n: {digits}}}}}}}"})
    assert answer["__typename"] == "LimitExceededError", answer


def test_a_long_tag_value_is_refused_without_sql(webserver):
    tag = [{"key": "team", "value": "x" * 8192}]
    for query in (LAUNCH, RUNS):
        answer = field(webserver, query, {"tags": tag})
        assert answer["__typename"] == "InvalidArgumentError", answer
        assert "at most 1024 bytes" in answer["expected"]
        assert "INSERT" not in answer["message"] and "SELECT" not in answer["message"]
    assert runs_count(webserver) == 0


def test_a_long_step_key_is_refused_without_a_path(webserver):
    query = (
        f"""query($k: String!) {{ capturedLogs(runId: "r", stepKey: $k) {{ {ERROR_FIELDS} }} }}"""
    )
    answer = field(webserver, query, {"k": "s" * 256})
    assert answer["__typename"] == "InvalidArgumentError", answer
    assert "at most 240 bytes" in answer["expected"]
    assert "compute_logs" not in json.dumps(answer)


@pytest.mark.parametrize("bad", ["\u0000", "run\u0000id", "\ud800", "a\udfffb"])
def test_nul_and_lone_surrogates_are_invalid_arguments(webserver, bad):
    body = json.dumps(
        {
            "query": f"query($id: String!, $tags: [TagInput!]) {{ runOrError(runId: $id) {{ {ERROR_FIELDS} }} "
            f"runsOrError(filter: {{tags: $tags}}) {{ {ERROR_FIELDS} }} }}",
            "variables": {"id": bad, "tags": [{"key": bad, "value": bad}]},
        }
    ).encode()
    status, answer = post(webserver, body)
    assert status == 200, answer
    for value in answer["data"].values():
        assert value["__typename"] == "InvalidArgumentError", answer


def test_an_explicit_null_means_the_default(webserver):
    query = """{
      runsOrError(limit: null, cursor: null, filter: null) { __typename }
      logsForRun(runId: "nope", limit: null, afterCursor: null) { __typename }
      capturedLogs(runId: "nope", stepKey: "s", maxBytes: null, stdoutCursor: null) { __typename }
    }"""
    status, answer = post(webserver, json.dumps({"query": query}).encode())
    assert status == 200 and "errors" not in answer, answer
    assert answer["data"] == {
        "runsOrError": {"__typename": "Runs"},
        "logsForRun": {"__typename": "RunNotFoundError"},
        "capturedLogs": {"__typename": "RunNotFoundError"},
    }


@pytest.mark.parametrize(
    "text,typename",
    [
        ("ops: {emit: {config: {n: 2024-01-01}}}", "RunConfigValidationInvalid"),  # a string
        ("ops: {emit: {config: {n: !!timestamp 2024-01-01}}}", "InvalidArgumentError"),
        ("ops: {emit: {config: {n: !!set {a}}}}", "InvalidArgumentError"),
        ("ops: {emit: {config: {n: !!binary aGVsbG8=}}}", "InvalidArgumentError"),
    ],
)
def test_yaml_timestamps_sets_and_binary_are_typed_answers(webserver, text, typename):
    answer = field(webserver, VALID, {"c": text})
    assert answer["__typename"] == typename, answer


@pytest.mark.parametrize("key", ["opgraph/schedule_name", "opgraph/parent_run_id", "opgraph/x"])
def test_clients_cannot_set_system_tags(webserver, key):
    answer = field(webserver, LAUNCH, {"tags": [{"key": key, "value": "forged"}]})
    assert answer["__typename"] == "InvalidArgumentError", answer
    assert "set by the platform" in answer["expected"]
    assert runs_count(webserver) == 0


def test_tag_filters_are_capped_and_counted_from_variables(webserver):
    tags = [{"key": f"k{i}", "value": "v"} for i in range(21)]
    answer = field(webserver, RUNS, {"tags": tags})
    assert answer["__typename"] == "InvalidArgumentError", answer
    assert "at most 20 tags" in answer["expected"]
    assert field(webserver, RUNS, {"tags": tags[:20]})["__typename"] == "Runs"


def test_amplifying_aliases_are_refused_before_execution(webserver):
    logs = " ".join(
        f'a{i}: capturedLogs(runId: "r", stepKey: "s", maxBytes: $m) {{ __typename }}'
        for i in range(60)
    )
    for query, variables in (
        (f"query($m: Int = 4194304) {{ {logs} }}", {}),
        (f"query($m: Int) {{ {logs} }}", {"m": 4194304}),
        (
            "{ "
            + " ".join(
                f'a{i}: logsForRun(runId: "r", limit: 10000) {{ __typename }}' for i in range(60)
            )
            + " }",
            {},
        ),
        (
            "{ "
            + " ".join(f"a{i}: runsOrError(limit: 1000) {{ __typename }}" for i in range(200))
            + " }",
            {},
        ),
    ):
        status, answer = post(
            webserver, json.dumps({"query": query, "variables": variables}).encode()
        )
        assert status == 200 and answer.get("data") is None, answer
        error = answer["errors"][0]
        assert error["extensions"]["code"] == "LIMIT_EXCEEDED", error
        assert "webserver.limits.max_query_cost" in error["message"]


def test_what_the_ui_asks_fits_the_default_budget(webserver):
    query = """{
      runsOrError(limit: 1000) { ... on Runs { results { runId tags { key value }
        stepStats { stepKey status } } } }
      logsForRun(runId: "r", limit: 10000) { ... on EventConnection { events { message } } }
      capturedLogs(runId: "r", stepKey: "s", maxBytes: 4194304) {
        ... on CapturedLogs { stdout { data } stderr { data } } }
    }"""
    status, answer = post(webserver, json.dumps({"query": query}).encode())
    assert status == 200 and "errors" not in answer, answer


@pytest.fixture
def small_answers(tmp_path: Path, pg_storage_url: str):
    home = make_home(tmp_path, pg_storage_url, webserver={"limits": {"max_response_bytes": 4096}})
    server = Webserver(home, command=OPGRAPH_WEBSERVER)
    yield server
    server.stop()


def test_the_answer_size_is_capped(small_answers):
    server = small_answers
    status, answer = post(
        server, json.dumps({"query": "{ __schema { types { name fields { name } } } }"}).encode()
    )
    assert status == 200 and answer["data"] is None, answer
    assert answer["errors"][0]["extensions"]["setting"] == "webserver.limits.max_response_bytes"
    # Captured logs count before they are read: the second alias is refused, not read.
    storage = create_storage(
        yaml.safe_load((server.home / "instance.yaml").read_text())["storage"]["url"]
    )
    try:
        storage.add_run(RunRecord(run_id="big-logs", job_name="numbers"))
    finally:
        storage.dispose()
    logs = server.home / "compute_logs" / "big-logs"
    logs.mkdir(parents=True)
    (logs / "s.out").write_text("line\n" * 600)  # 3,000 bytes
    query = f"""{{ a: capturedLogs(runId: "big-logs", stepKey: "s") {{ __typename }}
                 b: capturedLogs(runId: "big-logs", stepKey: "s") {{ {ERROR_FIELDS} }} }}"""
    status, answer = post(server, json.dumps({"query": query}).encode())
    assert answer["data"]["a"]["__typename"] == "CapturedLogs", answer
    assert answer["data"]["b"]["__typename"] == "LimitExceededError", answer


def test_an_answer_is_stopped_while_it_is_built(small_answers):
    storage = create_storage(
        yaml.safe_load((small_answers.home / "instance.yaml").read_text())["storage"]["url"]
    )
    try:
        for i in range(100):
            storage.add_run(RunRecord(run_id=f"run-{i:03d}", job_name="numbers"))
    finally:
        storage.dispose()
    query = "{ runsOrError(limit: 1000) { ... on Runs { results { runId jobName status } } } }"
    status, answer = post(small_answers, json.dumps({"query": query}).encode())
    assert status == 200 and answer["data"] is None, answer
    error = answer["errors"][0]
    # Stopped once its scalars passed the cap, not after the whole answer was serialized.
    assert "grew past" in error["message"], error
    assert error["extensions"]["setting"] == "webserver.limits.max_response_bytes"
    assert error["extensions"]["maximum"] == 4096
    # A page that fits is answered whole.
    few = "{ runsOrError(limit: 5) { ... on Runs { results { runId } } } }"
    status, answer = post(small_answers, json.dumps({"query": few}).encode())
    assert len(answer["data"]["runsOrError"]["results"]) == 5, answer


def _worker_rss_kb(server: Webserver) -> int:
    """Resident memory of the gunicorn worker(s) under the master process."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(server.process.pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total


def test_health_answers_and_memory_stays_bounded_after_the_heavy_cases(webserver):
    field(webserver, RUNS, {"tags": []})  # warm up: imports, the first connections
    before = _worker_rss_kb(webserver)
    assert before > 0
    for _ in range(3):
        for query in (VALID, PLAN, LAUNCH):
            field(webserver, query, {"c": alias_bomb(9)})
        test_amplifying_aliases_are_refused_before_execution(webserver)
        post(webserver, ("[" * 20_000 + "]" * 20_000).encode())
    assert webserver.request("/health")[0] == 200
    grown_mb = (_worker_rss_kb(webserver) - before) / 1024
    # The alias bomb alone used to add ~730 MB; 60 aliases of capturedLogs ~694 MB.
    assert grown_mb < 100, f"the worker grew by {grown_mb:.0f} MB"
