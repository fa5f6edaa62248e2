"""A step's stdout and stderr read back together in the order the step printed them: the
capture records each switch between the streams (opgraph.compute_logs) and
`capturedLogsCombined` merges by it (opgraph.compute_log_order), whole or page by page,
while the step prints or after; the separate views are unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from opgraph import OpgraphInstance, execute_job, reconstructable
from opgraph.compute_log_order import read_combined
from opgraph.compute_logs import capture_python_streams, log_paths, order_path
from opgraph.instance_config import InstanceConfig
from opgraph_app import create_app
from tests.executor import ordered_jobs

EXECUTORS = {
    "in_process": {"in_process": {}},  # sys.stdout/sys.stderr swapped in the run worker
    "multiprocess": {"multiprocess": {"max_concurrent": 2}},  # fds 1 and 2 in a worker
}
COMBINED = """query($id: String!, $cursor: String!, $max: Int!) {
  capturedLogsCombined(runId: $id, stepKey: "alternate", cursor: $cursor, maxBytes: $max) {
    __typename
    ... on CombinedLogs { chunks { stream data } cursor hasMore }
    ... on InvalidArgumentError { message argument }
  }
}"""


@pytest.fixture
def instance(tmp_path: Path, sqlite_url: str):
    made = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield made
    made.dispose()


def lines_of(chunks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(stream, line) from chunks in order; a line split across chunks of one stream is
    joined, as the UI joins it."""
    lines: list[tuple[str, str]] = []
    pending: tuple[str, str] | None = None
    for stream, data in chunks:
        if pending is not None and pending[0] != stream:
            lines.append(pending)
            pending = None
        parts = ((pending[1] if pending else "") + data).split("\n")
        tail = parts.pop()
        lines += [(stream, part) for part in parts]
        pending = (stream, tail) if tail else None
    if pending is not None:
        lines.append(pending)
    return lines


def ask(client: Any, run_id: str, cursor: str, max_bytes: int) -> dict[str, Any]:
    answer = client.post(
        "/graphql",
        json={"query": COMBINED, "variables": {"id": run_id, "cursor": cursor, "max": max_bytes}},
    ).get_json()
    assert "errors" not in answer, answer
    return answer["data"]["capturedLogsCombined"]  # type: ignore[no-any-return]


def read_all(client: Any, run_id: str, max_bytes: int) -> tuple[list[tuple[str, str]], int]:
    cursor, chunks, reads = "0.0.0", [], 0
    while True:
        page = ask(client, run_id, cursor, max_bytes)
        assert page["__typename"] == "CombinedLogs", page
        chunks += [(c["stream"], c["data"]) for c in page["chunks"]]
        cursor, reads = page["cursor"], reads + 1
        if not page["hasMore"]:
            return chunks, reads


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_combined_view_is_in_printed_order(instance: OpgraphInstance, executor: str):
    config = {"execution": {"config": EXECUTORS[executor]}}
    result = execute_job(reconstructable(ordered_jobs.alternating), instance, run_config=config)
    assert result.success
    client = create_app(instance).test_client()
    expected = ordered_jobs.expected_lines()

    whole, reads = read_all(client, result.run_id, 1024 * 1024)
    assert reads == 1
    assert lines_of(whole) == expected
    # Page by page (64 bytes at a time, cut at line ends): the same lines, the same order.
    paged, reads = read_all(client, result.run_id, 64)
    assert reads > 50
    assert lines_of(paged) == expected

    # The separate views are as they were: each stream's own lines, in order.
    separate = client.post(
        "/graphql",
        json={
            "query": 'query($id: String!) { capturedLogs(runId: $id, stepKey: "alternate")'
            " { ... on CapturedLogs { stdout { data } stderr { data } } } }",
            "variables": {"id": result.run_id},
        },
    ).get_json()["data"]["capturedLogs"]
    for stream in ("stdout", "stderr"):
        lines = [line for s, line in expected if s == stream]
        assert separate[stream]["data"] == "".join(f"{line}\n" for line in lines)


def test_a_wrong_cursor_is_refused_naming_it(instance: OpgraphInstance):
    result = execute_job(
        reconstructable(ordered_jobs.alternating),
        instance,
        run_config={"ops": {"alternate": {"config": {"lines": 1}}}},
    )
    answer = ask(create_app(instance).test_client(), result.run_id, "../etc", 100)
    assert answer["__typename"] == "InvalidArgumentError"
    assert answer["argument"] == "cursor"
    assert "'0.0.0'" in answer["message"] and "../etc" in answer["message"]


WRITER = """
import sys
from pathlib import Path
from opgraph.compute_logs import {capture}
with {capture}(Path({base!r}), "run", "step"):
    for i in range({lines}):
        print(f"out {{i}}", flush=True)
        print(f"err {{i}}", file=sys.stderr, flush=True)
        print("half", end="", flush=True)
        print(f" of line {{i}}", flush=True)
"""


@pytest.mark.parametrize("capture", ["capture_python_streams", "capture_file_descriptors"])
def test_read_while_the_step_prints(tmp_path: Path, capture: str):
    """Small reads taken while a step prints never give a line ahead of one printed
    before it, and end with every line."""
    lines = 2000
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(WRITER.format(capture=capture, base=str(tmp_path), lines=lines)),
        ]
    )
    out, err = log_paths(tmp_path, "run", "step")
    order = order_path(tmp_path, "run", "step")
    cursor, chunks, reads = "0.0.0", [], 0
    while True:
        done = writer.poll() is not None  # read once more after the writer has ended
        answer = read_combined(out, err, order, cursor, max_bytes=200)
        chunks += answer.chunks
        cursor, reads = answer.cursor, reads + 1
        if done and not answer.has_more:
            break
    assert writer.returncode == 0
    expected = []
    for i in range(lines):
        expected += [
            ("stdout", f"out {i}"),
            ("stderr", f"err {i}"),
            ("stdout", f"half of line {i}"),
        ]
    assert lines_of(chunks) == expected
    assert reads > 10


def test_a_retried_step_goes_on_from_the_stream_printed_last(tmp_path: Path):
    for attempt in range(2):
        with capture_python_streams(tmp_path, "run", "step"):
            print(f"out a{attempt}")
            print(f"err a{attempt}", file=sys.stderr)
    with capture_python_streams(tmp_path, "run", "step"):
        print("err only", file=sys.stderr)  # the third attempt prints to one stream
    out, err = log_paths(tmp_path, "run", "step")
    answer = read_combined(out, err, order_path(tmp_path, "run", "step"))
    assert lines_of(answer.chunks) == [
        ("stdout", "out a0"),
        ("stderr", "err a0"),
        ("stdout", "out a1"),
        ("stderr", "err a1"),
        ("stderr", "err only"),
    ]


def test_one_stream_writes_no_order_file(tmp_path: Path):
    with capture_python_streams(tmp_path, "run", "quiet"):
        print("only stdout")
    assert not order_path(tmp_path, "run", "quiet").exists()
    out, err = log_paths(tmp_path, "run", "quiet")
    answer = read_combined(out, err, order_path(tmp_path, "run", "quiet"))
    assert answer.chunks == [("stdout", "only stdout\n")] and not answer.has_more
