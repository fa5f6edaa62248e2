"""The web_streams suite: one webserver process under 500 live viewers, and its memory.

    python benchmarks/run.py --suite web_streams --json [--viewers 500]

`opgraph webserver` (one gevent worker, the defaults) serves a scratch PostgreSQL database
with 5,000 runs. One run is STARTED and this process appends a log event to it every
EVENT_INTERVAL seconds, as a running op would.

- health_ms / runs_ms (p50, p99): `GET /health` and `runsOrError(limit: 50)`, one request
  at a time, first with no viewer (the baseline), then while `--viewers` live streams of
  the running run are open and receiving its events (held by a separate client process).
- runs_cpu_ms: the worker's CPU time (user + system) per `runsOrError` request while they
  were measured: what one request costs the process, steadier than its latency on a
  shared machine (with viewers it includes the fan-out of the events written meanwhile).
- fanout_cpu_ms_per_event: the worker's CPU time (user + system) over a 10 s window with
  the viewers open and no request, per event of the run: what fanning one event out to
  every viewer costs, the time a request may wait behind it (less sensitive to the
  machine's load than the latencies).
- events_missed_by_a_viewer: events of the run (all written while they watched) that the
  worst-served viewer had not received a minute after the last one was written (target 0).
- rss_steady_mb / rss_peak_mb / rss_after_mb: the worker's resident memory after the
  baseline, at its highest (VmHWM) during heavy requests (aliased `runsOrError(limit: 1000)` and
  `logsForRun(limit: 1000)`, as large as the request limits allow), and after them once
  a few ordinary requests ran; rss_after_vs_steady_pct is the difference, and
  rss_after_second_round_mb the same after a second round of heavy requests.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import _ScratchPostgres
from benchmarks.web import _fill_events, _fill_runs, _rss_mb, _Server, _timed, figure_rows
from opgraph_storage import create_storage
from opgraph_storage.records import EventRecord, RunRecord, RunStatus

ROOT = Path(__file__).resolve().parent.parent
RUNS_IN_STORAGE = 5_000
REQUESTS = 300  # per latency case: p99 is the 3rd-slowest
EVENT_INTERVAL = 0.5
RUNS = """{ runsOrError(limit: 50) { __typename ... on Runs { results { runId jobName status
  createdAt tags { key value } } } } }"""
_HEAVY_RUNS_FIELDS = " ".join(
    f"r{i}: runsOrError(limit: 1000) {{ ... on Runs {{ results {{ runId jobName status "
    f"runConfigYaml tags {{ key value }} }} }} }}"
    for i in range(10)
)
_HEAVY_LOGS_FIELDS = " ".join(
    f"l{i}: logsForRun(runId: $id, limit: 1000) {{ ... on EventConnection {{ events {{ "
    f"eventType message stepKey timestamp }} }} }}"
    for i in range(10)
)
HEAVY_RUNS = "{ " + _HEAVY_RUNS_FIELDS + " }"
HEAVY_LOGS = "query($id: String!) { " + _HEAVY_LOGS_FIELDS + " }"


def _opgraph_webserver(home: Path) -> _Server:
    """`opgraph webserver` with its defaults: one gevent worker, PYTHONMALLOC=malloc."""
    return _Server(
        home, [str(Path(sys.executable).parent / "opgraph"), "webserver", "--port", "{port}"]
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


# -- the viewers: a separate process, so their reading does not slow the measuring client --
async def _viewer(port: int, run_id: str, counts: list[int], index: int, opened: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET /runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise SystemExit(f"viewer {index} was refused: {status!r}")
    opened()
    while line := await reader.readline():
        if line.startswith(b"event: run_event"):
            counts[index] += 1


def _viewers_main(port: int, run_id: str, viewers: int, ready: Any, stop: Any, totals: Any) -> None:
    async def main() -> None:
        counts = [0] * viewers
        opened = 0

        def one_opened() -> None:
            nonlocal opened
            opened += 1
            if opened == viewers:
                ready.set()

        tasks = [
            asyncio.create_task(_viewer(port, run_id, counts, i, one_opened))
            for i in range(viewers)
        ]
        while not stop.is_set():
            await asyncio.sleep(0.1)
            for i, count in enumerate(counts):
                totals[i] = count
        for task in tasks:
            task.cancel()

    asyncio.run(main())


class _EventWriter(threading.Thread):
    """Appends a LOG event to the running run every EVENT_INTERVAL seconds."""

    def __init__(self, storage: Any, run_id: str) -> None:
        super().__init__(daemon=True)
        self.storage, self.run_id = storage, run_id
        self.stopped = threading.Event()
        self.written = 0

    def run(self) -> None:
        while not self.stopped.wait(EVENT_INTERVAL):
            event = EventRecord(self.run_id, "LOG", time.time(), message=f"line {self.written}")
            self.storage.store_events([event])
            self.written += 1


def _measure(server: _Server, prefix: str) -> dict[str, float]:
    health = _timed(lambda: server.get("/health"), REQUESTS)
    pid = server.worker_pids()[0]
    cpu = _cpu_seconds(pid)
    runs = _timed(lambda: server.answer(RUNS), REQUESTS)
    runs_cpu_ms = 1000 * (_cpu_seconds(pid) - cpu) / REQUESTS
    return {
        f"{prefix}_health_ms_p50": round(statistics.median(health), 1),
        f"{prefix}_health_ms_p99": round(_p99(health), 1),
        f"{prefix}_runs_ms_p50": round(statistics.median(runs), 1),
        f"{prefix}_runs_ms_p99": round(_p99(runs), 1),
        f"{prefix}_runs_cpu_ms": round(runs_cpu_ms, 2),
    }


def _memory(server: _Server, log_run: str) -> dict[str, float]:
    pid = server.worker_pids()[0]
    for _ in range(50):  # steady state: the ordinary requests of the UI, warmed up
        server.answer(RUNS)
    steady = _rss_mb(pid)
    # Reset the kernel's high-water mark (VmHWM): sampled between requests, the peak would
    # be missed, as the worker trims 0.1 s after a heavy answer (app/memory.py).
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    refused = 0
    after: list[float] = []
    for _ in range(2):  # two rounds: the second shows whether memory keeps growing
        for _ in range(10):
            for answer in (server.answer(HEAVY_RUNS), server.answer(HEAVY_LOGS, {"id": log_run})):
                refused += "errors" in answer
        for _ in range(50):
            server.answer(RUNS)
        after.append(_rss_mb(pid))
    return {
        "rss_steady_mb": round(steady, 1),
        "rss_peak_mb": round(_rss_mb(pid, "VmHWM"), 1),
        "rss_after_mb": round(after[0], 1),
        "rss_after_vs_steady_pct": round(100 * (after[0] - steady) / steady, 1),
        "rss_after_second_round_mb": round(after[1], 1),
        "heavy_requests_refused": refused,
    }


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    viewers = getattr(args, "viewers", 500)
    home = args.scratch / "home"
    home.mkdir()
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": []}))
    with _ScratchPostgres(args.pg_url) as pg_url:
        config = {"storage": {"url": pg_url}, "webserver": {"max_streams": viewers + 100}}
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        storage = create_storage(pg_url)
        _fill_runs(storage, RUNS_IN_STORAGE)
        live_run = "bench-live-run"
        storage.add_run(RunRecord(run_id=live_run, job_name="live", status=RunStatus.STARTED))
        log_run = "bench-log-run"
        storage.add_run(RunRecord(run_id=log_run, job_name="logs"))
        _fill_events(storage, log_run, 2000)
        server = _opgraph_webserver(home)
        writer = _EventWriter(storage, live_run)
        context = multiprocessing.get_context("spawn")
        stop, ready = context.Event(), context.Event()
        totals = context.Array("i", viewers)
        client = context.Process(
            target=_viewers_main, args=(server.port, live_run, viewers, ready, stop, totals)
        )
        try:
            writer.start()
            figures: dict[str, float] = _measure(server, "baseline")  # warms up too
            figures = _measure(server, "baseline")
            client.start()
            if not ready.wait(120):
                raise SystemExit(f"{viewers} viewers did not all connect within 120 s")
            figures |= _measure(server, f"viewers{viewers}")
            pid, written = server.worker_pids()[0], writer.written
            cpu = _cpu_seconds(pid)
            time.sleep(10)
            fanned_out = writer.written - written
            figures["fanout_cpu_ms_per_event"] = round(
                1000 * (_cpu_seconds(pid) - cpu) / max(1, fanned_out), 1
            )
            writer.stopped.set()
            writer.join()
            deadline = time.monotonic() + 60  # every viewer gets every event of the run
            while min(totals[:]) < writer.written and time.monotonic() < deadline:
                time.sleep(0.1)
            figures["viewers"] = viewers
            figures["events_in_run"] = writer.written
            figures["events_missed_by_a_viewer"] = writer.written - min(totals[:])
            stop.set()
            client.join(60)
            figures |= _memory(server, log_run)
        finally:
            stop.set()
            writer.stopped.set()
            if client.is_alive():
                client.terminate()
            server.stop()
            storage.dispose()
    targets = {
        f"viewers{viewers}_health_ms_p99": "< 100",
        f"viewers{viewers}_runs_ms_p99": "< 100",
        "rss_after_vs_steady_pct": "< 10",
        "events_missed_by_a_viewer": "0",
    }
    return figure_rows(figures, targets), figures
