"""The daemon suite: a real `opgraph daemon run` on a scratch PostgreSQL database.

    python benchmarks/run.py --suite daemon --json

Queued coordinator, subprocess launcher (run workers forked from a warm zygote), a
one-op job run with the in-process executor.

- queued_to_start_ms: a run is submitted to the queue (its RUN_ENQUEUED event) -> its
  run worker's RUN_START, one run at a time, after one warm-up run. The daemon wakes on
  PostgreSQL NOTIFY, so this is not bound to `dequeue_interval_seconds`.
- dequeue_runs_per_s: 300 runs queued while no daemon runs, then a daemon starts with
  `max_concurrent_runs: 300` (limits allow all): launched runs (RUN_STARTING events) per
  second from the first launch to the 300th.
- standby_takeover_s: two daemons; the active one is killed with SIGKILL; seconds until
  the standby holds the lease (`daemon.lease_seconds`: 10, the default).
- daemon_rss_mb: resident memory of the daemon process (not its code server) at the
  end, after the above and OPGRAPH_BENCH_DAEMON_SECONDS (default 60) of a schedule
  ticking every 2 s and the run queue, monitoring, sweeper and retries parts ticking;
  sampled every minute of that stretch too, so a leak shows as a rising maximum.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks.core import _ScratchPostgres
from opgraph.daemon.controller import LEASE_NAME
from opgraph.instance import OpgraphInstance
from opgraph_storage.records import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    RunsFilter,
    RunStatus,
)
from tests.daemon.daemon_procs import IN_PROCESS, DaemonProcess, make_home, wait_for

QUEUE_RUNS = 300
LATENCY_RUNS = 20


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _rss_samples(pid: int, seconds: float, every: float = 60.0) -> list[float]:
    """RSS every `every` seconds for `seconds` (a leak shows as a rising series)."""
    samples = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(every, left))
        samples.append(_rss_mb(pid))
    return samples


def _pointer(home: Path) -> dict[str, str]:
    return {"python_file": str(home / "jobs.py"), "working_directory": str(home)}


def _stop_schedule(instance: OpgraphInstance) -> None:
    instance.storage.upsert_instigator_state(
        InstigatorState(
            "procs:every_two_seconds", InstigatorType.SCHEDULE, InstigatorStatus.STOPPED
        )
    )


def _queued_to_start(instance: OpgraphInstance, home: Path, count: int) -> list[float]:
    storage = instance.storage
    latencies = []
    for index in range(count + 1):
        run = instance.create_run("tiny", run_config=IN_PROCESS, code_pointer=_pointer(home))
        instance.submit_run(run.run_id)
        wait_for(
            lambda run_id=run.run_id: instance.get_run(run_id).status is RunStatus.SUCCESS,
            60,
            "a run to finish",
            poll=0.01,
        )
        events = {e.event_type: e.timestamp for e in storage.get_events(run.run_id)}
        if index:  # the first run warms the zygote and the caches
            latencies.append((events["RUN_START"] - events["RUN_ENQUEUED"]) * 1000)
    return latencies


def _dequeue_rate(instance: OpgraphInstance, home: Path, processes: list[DaemonProcess]) -> float:
    storage = instance.storage
    created = []
    for _ in range(QUEUE_RUNS):
        run = instance.create_run("tiny", run_config=IN_PROCESS, code_pointer=_pointer(home))
        instance.submit_run(run.run_id)
        created.append(run.run_id)
    processes.append(DaemonProcess(home, "queue"))
    wait_for(
        lambda: (
            storage.get_runs_count(RunsFilter(run_ids=created, statuses=[RunStatus.SUCCESS]))
            == QUEUE_RUNS
        ),
        300,
        f"{QUEUE_RUNS} runs to finish",
        poll=0.5,
    )
    starts = sorted(
        storage.get_events(run_id, event_types=["RUN_STARTING"])[0].timestamp for run_id in created
    )
    return (QUEUE_RUNS - 1) / (starts[-1] - starts[0])


def _takeover(instance: OpgraphInstance, home: Path, processes: list[DaemonProcess]) -> float:
    storage = instance.storage
    active = DaemonProcess(home, "active")
    processes.append(active)
    wait_for(
        lambda: (lease := storage.get_lease(LEASE_NAME)) and lease.pid == active.pid,
        60,
        "the lease",
    )
    standby = DaemonProcess(home, "standby")
    processes.append(standby)
    wait_for(lambda: "DAEMON_STANDBY" in storage.get_daemon_heartbeats(), 60, "a standby")
    time.sleep(2.0)
    active.kill9()
    killed = time.monotonic()
    wait_for(
        lambda: (lease := storage.get_lease(LEASE_NAME)) and lease.pid == standby.pid,
        60,
        "the takeover",
        poll=0.02,
    )
    return time.monotonic() - killed


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    seconds = float(os.environ.get("OPGRAPH_BENCH_DAEMON_SECONDS", "60"))
    processes: list[DaemonProcess] = []
    with _ScratchPostgres(args.pg_url) as pg_url:
        try:
            # 1. dequeue rate: a fresh daemon finds 300 queued runs, limits allow them all.
            home = make_home(
                args.scratch / "queue",
                pg_url,
                run_coordinator={"queued": {"max_concurrent_runs": QUEUE_RUNS}},
            )
            instance = OpgraphInstance.get(home)
            _stop_schedule(instance)
            rate = _dequeue_rate(instance, home, processes)
            # 2. queued -> started latency, on the same warm daemon.
            latencies = _queued_to_start(instance, home, LATENCY_RUNS * args.repeat)
            # 3. an idle-ish stretch with a schedule ticking every 2 s, then RSS.
            instance.storage.upsert_instigator_state(
                InstigatorState(
                    "procs:every_two_seconds",
                    InstigatorType.SCHEDULE,
                    InstigatorStatus.RUNNING,
                    {"start_time": time.time()},
                )
            )
            daemon_pid = processes[0].pid
            rss_start = _rss_mb(daemon_pid)
            samples = _rss_samples(daemon_pid, seconds)
            rss = samples[-1]
            ticks = len(instance.storage.get_ticks("procs:every_two_seconds"))
            for process in processes:
                process.stop()
            processes.clear()
            instance.dispose()
            # 4. standby takeover after kill -9 (default lease of 10 s).
            home = make_home(args.scratch / "takeover", pg_url)
            instance = OpgraphInstance.get(home)
            _stop_schedule(instance)
            takeover = _takeover(instance, home, processes)
            instance.dispose()
        finally:
            for process in processes:
                process.stop()
    figures = {
        "queued_to_start_ms_p50": round(statistics.median(latencies), 1),
        "queued_to_start_ms_max": round(max(latencies), 1),
        "dequeue_runs_per_s": round(rate, 1),
        "standby_takeover_s": round(takeover, 2),
        "daemon_rss_mb": round(rss, 1),
        "daemon_rss_mb_start": round(rss_start, 1),
        "daemon_rss_mb_max": round(max(samples), 1),
    }
    rows = [
        {
            "figure": "queued_to_start_ms_p50",
            "value": figures["queued_to_start_ms_p50"],
            "target": "< 500",
        },
        {
            "figure": "queued_to_start_ms_max",
            "value": figures["queued_to_start_ms_max"],
            "target": "",
        },
        {"figure": "dequeue_runs_per_s", "value": figures["dequeue_runs_per_s"], "target": ">= 20"},
        {"figure": "standby_takeover_s", "value": figures["standby_takeover_s"], "target": "< 15"},
        {
            "figure": f"daemon_rss_mb (after {seconds:.0f}s, {ticks} schedule ticks)",
            "value": figures["daemon_rss_mb"],
            "target": "< 120",
        },
        {
            "figure": "daemon_rss_mb at the start of that stretch / its maximum",
            "value": f"{figures['daemon_rss_mb_start']} / {figures['daemon_rss_mb_max']}",
            "target": "",
        },
    ]
    return rows, figures
