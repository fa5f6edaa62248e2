"""The Celery suite: 2 real worker processes (concurrency 2), Redis broker, PostgreSQL
storage, database IO manager. The in-process executor on the same storage is the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.celery_jobs import chain_20, fan_out_500, sleep_100
from benchmarks.core import _ScratchPostgres
from opgraph import OpgraphInstance, execute_job, reconstructable

WORKERS = 2
CONCURRENCY = 2
CELERY = {"execution": {"config": {"celery": {}}}}
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


class _RssSampler:
    """Peak resident memory of every worker process, sampled from /proc."""

    def __init__(self, pids: Any):
        self.pids = pids
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            for pid in self.pids():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:
                    pass


def _run(instance: OpgraphInstance, job: Any, config: dict) -> tuple[float, Any]:
    started = time.perf_counter()
    result = execute_job(reconstructable(job), instance, run_config=config)
    wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"benchmark run of {job.name} failed: {result.run_id}")
    return wall, result


def _link_latencies_ms(result: Any) -> list[float]:
    """From one op's end (STEP_SUCCESS) to the next op's start (STEP_START)."""
    times = {
        (e.event_type_value, e.step_key): e.record.timestamp
        for e in result.all_events
        if e.event_type_value in ("STEP_START", "STEP_SUCCESS")
    }
    keys = ["start"] + [f"step_{i}" for i in range(19)]
    return [
        (times[("STEP_START", b)] - times[("STEP_SUCCESS", a)]) * 1000
        for a, b in itertools.pairwise(keys)
    ]


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    from opgraph_celery.celery_app import instance_celery_config, make_celery_app
    from opgraph_celery.local_workers import LocalWorkers

    redis_url = os.environ.get("OPGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    suffix = uuid.uuid4().hex[:8]
    queue = f"bench-{suffix}"
    rows: list[dict] = []
    with _ScratchPostgres(args.pg_url) as pg_url:
        home = args.scratch / "celery"
        home.mkdir()
        (home / "instance.yaml").write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": pg_url},
                    "celery": {"broker_url": redis_url, "default_queue": queue},
                }
            )
        )
        instance = OpgraphInstance.get(home)
        _ = instance.storage  # create the schema before the workers start
        workers = LocalWorkers(home, make_celery_app(instance_celery_config(home)), queue, suffix)
        names = [f"bench{i}" for i in range(WORKERS)]
        try:
            for name in names:
                workers.start(name, concurrency=CONCURRENCY)

            def all_pids() -> list[int]:
                return [pid for name in names for pid in workers.pids(name)]

            with _RssSampler(all_pids) as rss:
                _run(instance, chain_20, CELERY)  # warm the workers' code caches
                links: list[float] = []
                chain_walls = []
                for _ in range(args.repeat):
                    wall, result = _run(instance, chain_20, CELERY)
                    chain_walls.append(wall)
                    links += _link_latencies_ms(result)
                fan_walls = [_run(instance, fan_out_500, CELERY)[0] for _ in range(args.repeat)]
                sleep_wall = min(_run(instance, sleep_100, CELERY)[0] for _ in range(2))
            baseline_chain = min(
                _run(instance, chain_20, IN_PROCESS)[0] for _ in range(args.repeat)
            )
            baseline_fan = min(
                _run(instance, fan_out_500, IN_PROCESS)[0] for _ in range(args.repeat)
            )
        finally:
            workers.stop_all()
            instance.dispose()
    slots = WORKERS * CONCURRENCY
    ideal = math.ceil(100 / slots) * 0.1
    fan_ops_per_s = 502 / min(fan_walls)
    figures = {
        "celery_chain20_link_ms_p50": round(statistics.median(links), 2),
        "celery_fanout500_ops_per_s": round(fan_ops_per_s, 1),
        "celery_sleep100_wall_s": round(sleep_wall, 3),
        "celery_worker_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    rows.append(
        {
            "case": "chain_20 (link = op end -> next op start)",
            "celery": f"{min(chain_walls):.3f}s, link p50 {figures['celery_chain20_link_ms_p50']}ms",
            "in_process baseline": f"{baseline_chain:.3f}s",
            "target": "link p50 < 25 ms",
        }
    )
    rows.append(
        {
            "case": "fan_out_500 trivial ops",
            "celery": f"{min(fan_walls):.3f}s, {fan_ops_per_s:.0f} ops/s",
            "in_process baseline": f"{baseline_fan:.3f}s, {502 / baseline_fan:.0f} ops/s",
            "target": ">= 200 ops/s",
        }
    )
    rows.append(
        {
            "case": f"fan_out_100 x sleep 0.1s ({slots} slots)",
            "celery": f"{sleep_wall:.3f}s ({sleep_wall / ideal:.2f}x ideal {ideal:.1f}s)",
            "in_process baseline": f"ideal {ideal:.1f}s",
            "target": "<= 1.2x ideal",
        }
    )
    rows.append(
        {
            "case": "peak RSS of one worker process",
            "celery": f"{figures['celery_worker_rss_mb']} MB",
            "in_process baseline": "-",
            "target": "< 120 MB",
        }
    )
    return rows, figures
