"""The web suite: the webserver's GraphQL API over HTTP on PostgreSQL.

    python benchmarks/run.py --suite web --json

A gunicorn webserver (`opgraph_app:create_app()`, gthread) serves a scratch PostgreSQL database;
run workers start through the immediate coordinator and the subprocess launcher.

- launch_to_start_ms: POST launchRun -> the run worker's RUN_START event (its timestamp),
  one run at a time, after one warm-up launch.
- runs_list_100k_ms: `runsOrError(limit: 50)` (ids, job, status, times, tags) with
  100,000 runs of 10 tags each in storage; wall time of the HTTP request.
- logs_first_page_ms: `logsForRun` of a run with 10,000 events, first page of the default
  size (500 events); logs_page_1000_ms: the same with limit 1000.
- webserver_rss_mb: resident memory of the gunicorn worker after all of the above.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import _ScratchPostgres
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord
from opgraph_storage.schema import run_tags, runs

ROOT = Path(__file__).resolve().parent.parent
JOBS = """
from opgraph import job, op


@op
def one() -> int:
    return 1


@job
def tiny():
    one()
"""
LAUNCH = """mutation { launchRun(executionParams: {selector: {locationName: "bench",
  jobName: "tiny"}, runConfigData: {execution: {config: {in_process: {}}}}}) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""
RUNS = """{ runsOrError(limit: 50) { __typename ... on Runs { cursor hasMore
  results { runId jobName status createdAt startTime endTime tags { key value } } } } }"""
LOGS = """query($id: String!, $limit: Int) { logsForRun(runId: $id, limit: $limit) { __typename
  ... on EventConnection { cursor hasMore events { cursor eventType timestamp stepKey
  level message } } } }"""

RUNS_IN_STORAGE = 100_000
TAGS_PER_RUN = 10
EVENTS_IN_RUN = 10_000


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """A webserver process on a free port: `command` gets `{port}` filled in (default:
    gunicorn's gthread worker around `opgraph_app:create_app()`)."""

    def __init__(self, home: Path, command: list[str] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        args = command or [
            gunicorn, "opgraph_app:create_app()", "--bind", "127.0.0.1:{port}",
            "--worker-class", "gthread", "--threads", "8",
        ]  # fmt: skip
        env = {**os.environ, "OPGRAPH_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.log = open(home / "webserver.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [arg.replace("{port}", str(self.port)) for arg in args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/health")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(
                        f"webserver did not start: see {home / 'webserver.log'}"
                    ) from None
                time.sleep(0.1)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()  # type: ignore[no-any-return]

    def answer(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole answer, errors included (an HTTP error becomes one)."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            self.url + "/graphql", body, {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return {"errors": [{"message": f"HTTP {exc.code}: {exc.read()[:200]!r}"}]}

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of an answer that must have no errors."""
        answer = self.answer(query, variables)
        if "errors" in answer:
            raise SystemExit(f"GraphQL errors: {answer['errors']}")
        return answer["data"]  # type: ignore[no-any-return]

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def worker_rss_mb(self) -> float:
        return max((_rss_mb(pid) for pid in self.worker_pids()), default=0.0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now, or at its highest so far (`VmHWM`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def figure_rows(figures: dict[str, float], targets: dict[str, str]) -> list[dict]:
    return [
        {"figure": name, "value": value, "target": targets.get(name, "-")}
        for name, value in figures.items()
    ]


def _timed(fn: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _launch_to_start(server: _Server, storage: Any, count: int) -> list[float]:
    latencies = []
    for index in range(count + 1):  # the first is a warm-up
        started = time.time()
        result = server.gql(LAUNCH)["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise SystemExit(f"launchRun failed: {result}")
        run_id = result["run"]["runId"]
        deadline = time.monotonic() + 60
        start_at = None
        while start_at is None or storage.get_run(run_id).ended_at is None:
            events = storage.get_events(run_id, event_types=["RUN_START"])
            start_at = events[0].timestamp if events else None
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not start/finish within 60 s")
            time.sleep(0.01)
        if index:
            latencies.append((start_at - started) * 1000)
    return latencies


def _fill_runs(storage: Any, count: int) -> None:
    """100,000 runs with 10 tags each, inserted in batches straight through SQLAlchemy."""
    now = time.time()
    batch = 5000
    engine = storage.engine
    for start in range(0, count, batch):
        run_rows, tag_rows = [], []
        for i in range(start, min(start + batch, count)):
            run_id = f"bench-{i:06d}-{uuid.uuid4().hex[:8]}"
            run_rows.append(
                {
                    "run_id": run_id, "job_name": f"job_{i % 20}",
                    "status": "SUCCESS" if i % 7 else "FAILURE", "run_config": "{}",
                    "created_at": now - count + i, "started_at": now - count + i + 1,
                    "ended_at": now - count + i + 5, "updated_at": now,
                }
            )  # fmt: skip
            tag_rows += [
                {"run_id": run_id, "key": f"tag_{t}", "value": f"value_{(i + t) % 50}"}
                for t in range(TAGS_PER_RUN)
            ]
        with engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            conn.execute(run_tags.insert(), tag_rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE runs")
        conn.exec_driver_sql("ANALYZE run_tags")


def _fill_events(storage: Any, run_id: str, count: int) -> None:
    now = time.time()
    for start in range(0, count, 1000):
        storage.store_events(
            [
                EventRecord(run_id, "LOG", now + i * 0.001, step_key=f"step_{i % 100}",
                            message=f"log line {i} of a long run")
                for i in range(start, min(start + 1000, count))
            ]
        )  # fmt: skip


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    repeat = max(args.repeat, 1) * 10
    home = args.scratch / "home"
    code = args.scratch / "code"
    home.mkdir()
    code.mkdir()
    (code / "jobs.py").write_text(JOBS)
    with _ScratchPostgres(args.pg_url) as pg_url:
        config = {"storage": {"url": pg_url}, "run_launcher": "subprocess"}
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        workspace = {
            "load_from": [
                {"python_file": {"relative_path": str(code / "jobs.py"), "location_name": "bench"}}
            ]
        }
        (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        storage = create_storage(pg_url)
        server = _Server(home)
        try:
            launches = _launch_to_start(server, storage, repeat)
            _fill_runs(storage, RUNS_IN_STORAGE)
            server.gql(RUNS)  # first request after the fill: plans and caches warm
            runs_list = _timed(lambda: server.gql(RUNS), repeat)
            long_run = "bench-long-run"
            storage.add_run(RunRecord(run_id=long_run, job_name="long"))
            _fill_events(storage, long_run, EVENTS_IN_RUN)
            server.gql(LOGS, {"id": long_run})
            logs = _timed(lambda: server.gql(LOGS, {"id": long_run}), repeat)
            logs_1000 = _timed(lambda: server.gql(LOGS, {"id": long_run, "limit": 1000}), repeat)
            rss = server.worker_rss_mb()
        finally:
            server.stop()
            storage.dispose()
    figures = {
        "launch_to_start_ms_p50": round(statistics.median(launches), 1),
        "launch_to_start_ms_max": round(max(launches), 1),
        "runs_list_100k_ms_p50": round(statistics.median(runs_list), 1),
        "logs_first_page_ms_p50": round(statistics.median(logs), 1),
        "logs_page_1000_ms_p50": round(statistics.median(logs_1000), 1),
        "webserver_rss_mb": round(rss, 1),
    }
    targets = {
        "launch_to_start_ms_p50": "< 300",
        "runs_list_100k_ms_p50": "< 30",
        "logs_first_page_ms_p50": "< 50",
        "webserver_rss_mb": "< 120",
    }
    return figure_rows(figures, targets), figures
