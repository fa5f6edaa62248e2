"""The webserver under many live streams and slow clients (`opgraph webserver`, gevent)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.web_server import Webserver, make_home

LAUNCH = """
mutation($job: String!) {
  launchRun(executionParams: {selector: {locationName: "tests", jobName: $job}}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message }
  }
}
"""
STATUS = "query($id: String!) { runOrError(runId: $id) { ... on Run { status } } }"
STEPS = "query($id: String!) { runOrError(runId: $id) { ... on Run { stepStats { status } } } }"
TERMINATE = "mutation($id: String!) { terminateRun(runId: $id, policy: FORCE) { __typename } }"
MAX_STREAMS = 24  # more than gthread's 16 threads: without gevent these streams starve /health


def _wait_until(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _open_stream(server: Webserver, run_id: str) -> tuple[socket.socket, bytes]:
    """A raw live stream: the socket and what came before the first event."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(
        f"GET /runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return sock, head


def _read_until_end(sock: socket.socket) -> bytes:
    data = b""
    while b"event: end" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _started_sleepy_run(server: Webserver) -> str:
    launched = server.gql(LAUNCH, {"job": "sleepy"})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    _wait_until(lambda: server.gql(STEPS, {"id": run_id})["runOrError"]["stepStats"], what="step")
    return run_id


def test_many_live_streams_leave_health_and_graphql_answering(
    tmp_path: Path, pg_storage_url, opgraph_webserver
):
    home = make_home(tmp_path, pg_storage_url, webserver={"max_streams": MAX_STREAMS})
    server = opgraph_webserver(home)
    run_id = _started_sleepy_run(server)

    streams = [_open_stream(server, run_id) for _ in range(MAX_STREAMS)]
    assert all(head.startswith(b"HTTP/1.1 200") for _, head in streams)

    # Every stream waits on the run; the process still answers everything else.
    status, _, body = server.request("/health", timeout=30)
    assert status == 200, body
    assert server.gql(STATUS, {"id": run_id})["runOrError"]["status"] == "STARTED"
    # One past the cap is refused cleanly, with a hint when to come back.
    status, headers, body = server.request(f"/runs/{run_id}/events", timeout=30)
    assert status == 503, body
    assert headers["Retry-After"] == "5"
    assert "webserver.max_streams" in json.loads(body)["errors"][0]["message"]

    # Every stream sees the run's end (one follower fans the events out).
    terminated = server.gql(TERMINATE, {"id": run_id})["terminateRun"]
    assert terminated["__typename"] == "TerminateRunSuccess"
    for sock, head in streams:
        data = head + _read_until_end(sock)
        assert b"RUN_CANCELED" in data and b"event: end" in data
        sock.close()
    # The slots are free again once the streams closed.
    _wait_until(
        lambda: server.request(f"/runs/{run_id}/events", timeout=30)[0] == 200,
        what="a stream slot",
    )


def test_slow_clients_are_cut_off(tmp_path: Path, pg_storage_url, opgraph_webserver):
    home = make_home(tmp_path, pg_storage_url)
    server = opgraph_webserver(home, "--header-timeout", "3")
    slow = []
    for _ in range(24):  # more than gthread's 16 threads
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        slow.append(sock)

    status, _, _ = server.request("/health", timeout=30)
    assert status == 200
    # Each slow client trickles one header line per second until the server hangs up.
    for index, sock in enumerate(slow):
        sock.settimeout(1)
        lines_sent = 0
        while True:
            try:
                if sock.recv(1024) == b"":
                    break  # closed by the server, no answer
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            try:
                sock.sendall(f"X-Slow-{lines_sent}: {index}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
            lines_sent += 1
            assert lines_sent < 60, "a slow client was never cut off"
        sock.close()


def test_after_past_the_end_of_a_finished_run_answers_at_once(
    tmp_path: Path, pg_storage_url, opgraph_webserver
):
    home = make_home(tmp_path, pg_storage_url)
    server = opgraph_webserver(home)
    run_id = server.gql(LAUNCH, {"job": "numbers"})["launchRun"]["run"]["runId"]
    _wait_until(
        lambda: (
            server.gql(STATUS, {"id": run_id})["runOrError"]["status"] in ("SUCCESS", "FAILURE")
        ),
        what="the run to finish",
    )
    _wait_until(
        lambda: b"event: end" in server.request(f"/runs/{run_id}/events")[2], what="its end"
    )
    assert server.gql(STATUS, {"id": run_id})["runOrError"]["status"] == "SUCCESS", server.request(
        f"/runs/{run_id}/events"
    )[2]

    # Before: the stream waited 15 s (its keep-alive interval) for events that never come.
    status, _, body = server.request(f"/runs/{run_id}/events?after={2**63 - 1}", timeout=12)
    assert status == 200 and b"event: end" in body and b"run_event" not in body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/runs/%00/events", 400),
        ("/runs/a%00b/events", 400),
        ("/runs/%ED%A0%80/events", 400),  # a lone surrogate, UTF-8 encoded
        ("/runs/" + "a" * 300 + "/events", 400),
        ("/runs/x/events?after=99999999999999999999", 400),
        ("/runs/x/events?after=9223372036854775808", 400),  # one past BIGINT
        ("/runs/x/events?after=-1", 400),
        ("/runs/no-such-run/events", 404),
    ],
)
def test_bad_stream_requests_are_client_errors(
    tmp_path: Path, pg_storage_url, opgraph_webserver, path, expected
):
    server = opgraph_webserver(make_home(tmp_path, pg_storage_url))
    status, _, body = server.request(path, timeout=30)
    assert status == expected, body
    assert "message" in json.loads(body)["errors"][0]


HEAVY_RUNS = "{ " + " ".join(
    f"r{i}: runsOrError(limit: 1000) {{ ... on Runs {{ results {{ runId jobName status "
    f"runConfigYaml tags {{ key value }} }} }} }}"
    for i in range(10)
) + " }"  # fmt: skip
SMALL_RUNS = "{ runsOrError(limit: 20) { ... on Runs { results { runId tags { key } } } } }"


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now, or at its highest so far (`VmHWM`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def _worker_pid(server: Webserver) -> int:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return int(children.read_text().split()[0])


def test_a_worker_gives_memory_back_after_heavy_answers(
    tmp_path: Path, pg_storage_url, opgraph_webserver
):
    from benchmarks.web import _fill_runs
    from opgraph_storage import create_storage

    storage = create_storage(pg_storage_url)
    try:
        _fill_runs(storage, 2000)  # 10 tags each: one heavy answer is ~5 MB of JSON
    finally:
        storage.dispose()
    home = make_home(tmp_path, pg_storage_url)
    server = opgraph_webserver(home)
    pid = _worker_pid(server)
    # The worker runs on the C allocator, which malloc_trim can empty (app/memory.py).
    assert b"PYTHONMALLOC=malloc\0" in Path(f"/proc/{pid}/environ").read_bytes()
    for _ in range(30):
        server.gql(SMALL_RUNS)
    steady = _rss_mb(pid)
    for _ in range(5):
        assert len(server.gql(HEAVY_RUNS)["r9"]["results"]) == 1000
    for _ in range(30):
        server.gql(SMALL_RUNS)
    peak = _rss_mb(pid, "VmHWM")
    assert peak > steady + 15, (steady, peak)  # the heavy answers did grow the worker
    # A trim runs 0.1 s after a request that grew the worker; under pymalloc it stayed
    # 30-40 % above steady. One small request at a time until it is back within 10 %.
    _wait_until(
        lambda: server.gql(SMALL_RUNS) and _rss_mb(pid) <= steady * 1.10,
        timeout=30,
        what=f"the worker back within 10 % of {steady:.0f} MB (peak {peak:.0f} MB)",
    )
