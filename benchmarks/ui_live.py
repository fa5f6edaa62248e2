"""What "live everywhere" costs the webserver: 100 open pages that keep themselves fresh.

    python benchmarks/ui_live.py [--runs 100000] [--pages 100] [--seconds 15] [--json]

Every list and summary page of the UI asks GraphQL's `runsChange` once a second (a mark of
the newest run and the live runs) and reads its own data again only when the mark moved.
On a scratch PostgreSQL database with `--runs` finished runs (10 tags each) and 20 live
ones, this prints:

- SQL statements per request (counted in-process with a SQLAlchemy listener): the mark,
  against the queries a runs page and the overview would repeat if they polled their data;
- `--pages` pollers at one request a second each for `--seconds` against a gunicorn
  webserver (gthread): requests served and latency of the mark; then, in the same process,
  the same pollers reading the runs page's query instead (the baseline a page without the
  mark would cost);
- how long a new run takes to change the mark seen by a poller (its 1 s interval included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from benchmarks.ui import _home, fill_runs
from opgraph_storage.records import RunRecord, RunStatus

MARK = "{ runsChange { newestRunId liveMark } }"
RUNS_PAGE = """{ runsOrError(limit: 50) { __typename ... on Runs { cursor hasMore count
  results { runId jobName status locationName parentRunId createdAt startTime endTime
  canTerminate tags { key value } } } } }"""
OVERVIEW = """query($since: Float!) {
  a: runsOrError(filter: {statuses: [STARTING, STARTED, CANCELING]}, limit: 10) { ... on Runs { count results { runId jobName status createdAt startTime endTime } } }
  b: runsOrError(filter: {statuses: [QUEUED, NOT_STARTED]}, limit: 10) { ... on Runs { count results { runId } } }
  c: runsOrError(filter: {statuses: [FAILURE], createdAfter: $since}, limit: 10) { ... on Runs { count results { runId } } }
  d: runsOrError(filter: {statuses: [SUCCESS], createdAfter: $since}, limit: 1) { ... on Runs { count } }
}"""
LIVE_RUNS = 20


def add_live_runs(storage: Any, count: int) -> None:
    now = time.time()
    for i in range(count):
        storage.add_run(
            RunRecord(
                run_id=f"live-{i}-{uuid.uuid4().hex[:8]}",
                job_name="job_0",
                status=RunStatus.STARTED,
                run_config={},
                created_at=now - 60,
                updated_at=now - 60,
                location_name="bench",
            )
        )


def statements_per_request(home: Path) -> dict[str, int]:
    """SQL statements one request of each query runs (in-process app, same storage)."""
    import os

    os.environ["OPGRAPH_HOME"] = str(home)
    from opgraph_app import create_app

    client = create_app().test_client()
    count = [0]

    def counter(*_args: Any) -> None:
        count[0] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", counter)
    figures = {}
    try:
        for name, query, variables in (
            ("mark", MARK, {}),
            ("runs_page", RUNS_PAGE, {}),
            ("overview", OVERVIEW, {"since": time.time() - 86400}),
        ):
            client.post("/graphql", json={"query": query, "variables": variables})  # warm
            count[0] = 0
            answer = client.post("/graphql", json={"query": query, "variables": variables})
            assert not answer.get_json().get("errors"), answer.get_json()
            figures[f"statements_{name}"] = count[0]
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", counter)
    return figures


def post(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read())["data"])


def pollers(url: str, query: str, pages: int, seconds: float) -> dict[str, float]:
    """`pages` threads, each asking `query` once a second for `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def page(offset: float) -> None:
        next_at = time.monotonic() + offset
        while True:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # a page's poll interval, not a wait for a result
            if time.monotonic() >= stop_at:
                return
            started = time.perf_counter()
            post(url, query)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
            next_at += 1.0

    threads = [threading.Thread(target=page, args=(i / pages,)) for i in range(pages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "ms_p50": round(statistics.median(ordered), 1),
        "ms_p95": round(ordered[int(len(ordered) * 0.95) - 1], 1),
    }


def new_run_seen_after(url: str, storage: Any, trials: int = 5) -> list[float]:
    """Seconds from a run's creation to a page polling once a second seeing it in the mark
    (runs are created at moments unrelated to the page's polls)."""
    seen_at: dict[str, float] = {}
    stop = threading.Event()

    def page() -> None:
        while not stop.is_set():
            newest = post(url, MARK)["runsChange"]["newestRunId"]
            seen_at.setdefault(newest, time.monotonic())
            stop.wait(1.0)  # the pages' poll interval

    poller = threading.Thread(target=page)
    poller.start()
    delays = []
    try:
        for trial in range(trials):
            stop.wait(0.37 * (trial + 1) % 1.0 + 1.0)  # a moment out of phase with the page
            run_id = f"new-{uuid.uuid4().hex[:8]}"
            created = time.monotonic()
            storage.add_run(
                RunRecord(
                    run_id=run_id, job_name="job_0", created_at=time.time(), updated_at=time.time()
                )
            )
            while run_id not in seen_at:
                stop.wait(0.01)
            delays.append(round(seen_at[run_id] - created, 2))
    finally:
        stop.set()
        poller.join()
    return delays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)

    from benchmarks.core import _ScratchPostgres
    from opgraph_storage import create_storage
    from tests.web_server import Webserver

    figures: dict[str, Any] = {"runs": args.runs, "pages": args.pages}
    with (
        tempfile.TemporaryDirectory(prefix="opgraph-bench-ui-live-") as scratch,
        _ScratchPostgres(args.pg_url) as pg_url,
    ):
        home = _home(Path(scratch), pg_url)
        storage = create_storage(pg_url)
        fill_runs(storage, args.runs)
        add_live_runs(storage, LIVE_RUNS)
        figures.update(statements_per_request(home))
        server = Webserver(home)
        try:
            for query in (MARK, RUNS_PAGE):  # warm up
                post(server.url, query)
            for name, value in pollers(server.url, MARK, args.pages, args.seconds).items():
                figures[f"mark_{name}"] = value
            for name, value in pollers(server.url, RUNS_PAGE, args.pages, args.seconds).items():
                figures[f"baseline_runs_page_{name}"] = value
            seen = new_run_seen_after(server.url, storage)
            figures["new_run_seen_s_max"] = max(seen)
            figures["new_run_seen_s_p50"] = statistics.median(seen)
        finally:
            server.stop()
            storage.dispose()
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name.ljust(width)}  {value}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
