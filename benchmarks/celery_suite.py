"""The Celery suite: 2 real worker processes (concurrency 2), Redis broker, PostgreSQL
storage, database IO manager. The in-process executor on the same storage is the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
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


# -- the fleet suite: both brokers, run workers as processes, CPU across all processes --------
#
#     python -m benchmarks.celery_suite [--brokers redis,rabbitmq] [--skip-10k] [--json]
#
# Per broker: 2 workers (concurrency 2) over a scratch PostgreSQL. Each run has its own run
# worker process (`python -m opgraph.run_worker`), as the launchers start it.
CLK_TCK = os.sysconf("SC_CLK_TCK")
BROKER_URLS = {
    "redis": os.environ.get("OPGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("OPGRAPH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
KILL_EVERY_SECONDS = 2.0
KILL_FOR_AT_MOST_SECONDS = 60.0


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class _CpuSampler:
    """CPU seconds used during the window by the processes `pids()` names (sampled every
    0.1 s: a process that exits loses at most its last 0.1 s)."""

    def __init__(self, pids: Any):
        self.pids = pids
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _CpuSampler:
        self._sample(at_start=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)

    def _sample(self, at_start: bool = False) -> None:
        for pid in self.pids():
            used = _cpu_seconds(pid)
            if used is None:
                continue
            if at_start:
                self.first[pid] = used
            self.last[pid] = used

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()


def _pg_backends(admin: Any, database: str) -> list[int]:
    import sqlalchemy as sa

    with admin.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        )
        return [int(row[0]) for row in rows]


class _FleetBench:
    """One broker's fleet: a home, 2 workers, run workers as processes."""

    def __init__(self, scratch: Path, pg_url: str, broker: str):
        from opgraph_celery.celery_app import instance_celery_config, make_celery_app
        from opgraph_celery.local_workers import LocalWorkers

        self.broker = broker
        self.broker_url = BROKER_URLS[broker]
        suffix = uuid.uuid4().hex[:8]
        self.queue = f"bench-{broker}-{suffix}"
        self.home = scratch / f"fleet-{broker}"
        # Extra environment of the run workers (--dump: their executor's DEBUG lines).
        self.run_worker_env: dict[str, str] = {}
        self.home.mkdir()
        (self.home / "instance.yaml").write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": pg_url},
                    "celery": {"broker_url": self.broker_url, "default_queue": self.queue},
                }
            )
        )
        self.instance = OpgraphInstance.get(self.home)
        _ = self.instance.storage  # the schema, before the workers race to make it
        self.app = make_celery_app(instance_celery_config(self.home))
        self.workers = LocalWorkers(self.home, self.app, self.queue, suffix)
        self.names: list[str] = []
        self.generation = 0
        self.killed_at: dict[str, float] = {}  # node -> when it was SIGKILLed

    def start_worker(self, wait: bool = True) -> None:
        self.generation += 1
        name = f"bench{self.generation}"
        self.workers.start(name, concurrency=CONCURRENCY, wait=wait)
        self.names.append(name)

    def kill_worker(self, name: str) -> None:
        import signal

        self.killed_at[self.workers.node(name)] = time.time()
        for pid in self.workers.pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.workers.processes.pop(name).wait()
        self.names.remove(name)

    def worker_pids(self) -> list[int]:
        return [pid for name in list(self.names) for pid in self.workers.pids(name)]

    def run(
        self, job: Any, celery: dict | None = None, during: Any = None
    ) -> tuple[str, float, float, int]:
        """Run `job` with a run worker process: (run id, RUN_START -> RUN_SUCCESS seconds,
        the run worker's CPU seconds, its peak RSS in KiB)."""
        import subprocess
        import sys

        from opgraph.submit import create_job_run

        config = {"execution": {"config": {"celery": celery or {}}}}
        run = create_job_run(self.instance, reconstructable(job).pointer, job.name, config)
        log = self.home / "logs" / "run-workers.log"
        log.parent.mkdir(exist_ok=True)
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "opgraph.run_worker", run.run_id],
                env={**os.environ, "OPGRAPH_HOME": str(self.home), **self.run_worker_env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        peak_kb = 0
        while True:  # wait4, not poll: the resource usage of the run worker comes with it
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            try:
                proc_status = Path(f"/proc/{process.pid}/status").read_text()
                peak_kb = max(peak_kb, int(proc_status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError):
                pass
            if during is not None:
                during()
            time.sleep(0.1)
        cpu = usage.ru_utime + usage.ru_stime
        events = self.instance.storage.get_events(
            run.run_id, event_types=["RUN_START", "RUN_SUCCESS"]
        )
        times = {e.event_type: e.timestamp for e in events}
        if "RUN_SUCCESS" not in times:
            raise SystemExit(f"benchmark run of {job.name} failed: {run.run_id} (see {log})")
        return run.run_id, times["RUN_SUCCESS"] - times["RUN_START"], cpu, peak_kb

    def close(self) -> None:
        self.workers.stop_all()
        self.app.close()
        self.instance.dispose()


def _raw_celery_noops(scratch: Path, broker_url: str, count: int) -> tuple[float, float]:
    """`count` raw Celery no-op tasks on 2 workers of concurrency 2: (seconds from the first
    publish to the last result, CPU seconds of the workers and this publisher)."""
    import resource
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    queue = f"bench-noop-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "OPGRAPH_BENCH_BROKER_URL": broker_url,
        "OPGRAPH_BENCH_QUEUE": queue,
        "PYTHONPATH": str(repo),
    }
    os.environ.update(OPGRAPH_BENCH_BROKER_URL=broker_url, OPGRAPH_BENCH_QUEUE=queue)
    import importlib

    import benchmarks.celery_noop as noop_module

    noop_module = importlib.reload(noop_module)  # this broker and queue
    workers = []
    log = open(scratch / f"noop-{queue}.log", "ab")  # noqa: SIM115 (closed below)
    try:
        for i in range(WORKERS):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "benchmarks.celery_noop", "worker",
                     "-Q", queue, "--concurrency", str(CONCURRENCY), "-n", f"noop{i}-{queue}@%h",
                     "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                    env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(noop_module.app.control.ping(timeout=0.5) or []) < WORKERS:
            if time.monotonic() > deadline:
                raise SystemExit("raw Celery workers did not start")
        noop_module.noop.delay(0).get(timeout=60)  # warm

        def pids() -> list[int]:
            found = []
            for worker in workers:
                children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
                found.append(worker.pid)
                if children.exists():
                    found += [int(p) for p in children.read_text().split()]
            return found

        before = resource.getrusage(resource.RUSAGE_SELF)
        with _CpuSampler(pids) as cpu:
            started = time.perf_counter()
            results = [noop_module.noop.delay(i) for i in range(count)]
            for result in results:
                result.get(timeout=300)
            wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        mine = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return wall, cpu.seconds + mine
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        log.close()
        noop_module.app.close()


def _fleet_rows(args: argparse.Namespace, broker: str, pg_url: str) -> tuple[list[dict], dict]:
    import sqlalchemy as sa

    from opgraph_storage import normalize_url

    rows: list[dict] = []
    figures: dict[str, float] = {}
    database = sa.make_url(normalize_url(pg_url)).database
    admin = sa.create_engine(normalize_url(args.pg_url), pool_size=1)
    bench = _FleetBench(args.scratch, pg_url, broker)
    if args.dump:  # why a strike was held off shows only at DEBUG (the executor's JSON log)
        bench.run_worker_env = {"OPGRAPH_LOG_FORMAT": "json", "OPGRAPH_LOG_LEVEL": "DEBUG"}
    try:
        for _ in range(WORKERS):
            bench.start_worker()
        bench.run(chain_20)  # warm the workers' code caches
        if not args.kill_loop_only:
            more_rows, more = _throughput_rows(args, bench, admin, database)
            rows += more_rows
            figures.update(more)
        rows += _kill_loop_rows(args, bench, figures)
    finally:
        bench.close()
        admin.dispose()
    return rows, figures


def _throughput_rows(
    args: argparse.Namespace, bench: _FleetBench, admin: Any, database: str
) -> tuple[list[dict], dict]:
    from benchmarks.celery_big_jobs import fan_out_10000, grid_100x100

    broker = bench.broker
    rows: list[dict] = []
    figures: dict[str, float] = {}

    def fleet_pids() -> list[int]:
        return bench.worker_pids() + _pg_backends(admin, database)

    best: tuple[float, float, float] | None = None
    for _ in range(args.repeat):
        with _CpuSampler(fleet_pids) as cpu:
            _, seconds, run_worker_cpu, _ = bench.run(fan_out_500)
        total = cpu.seconds + run_worker_cpu
        if best is None or seconds < best[0]:
            best = (seconds, total, run_worker_cpu)
    assert best is not None
    fan_seconds, fan_cpu, fan_rw_cpu = best
    rate_500 = 502 / fan_seconds
    noop_wall, noop_cpu = _raw_celery_noops(args.scratch, bench.broker_url, 500)
    figures[f"{broker}_fanout500_ops_per_s"] = round(rate_500, 1)
    figures[f"{broker}_fanout500_cpu_ms_per_step"] = round(fan_cpu * 1000 / 502, 2)
    figures[f"{broker}_raw_celery_noop_per_s"] = round(500 / noop_wall, 1)
    figures[f"{broker}_raw_celery_cpu_ms_per_task"] = round(noop_cpu * 1000 / 500, 2)
    rows.append(
        {
            "broker": broker,
            "case": "fan_out_500: rate; CPU per step (workers + run worker + PostgreSQL)",
            "figure": f"{rate_500:.0f} ops/s; {fan_cpu * 1000 / 502:.1f} ms CPU/step "
            f"(run worker {fan_rw_cpu * 1000 / 502:.1f})",
            "baseline": f"raw Celery no-op: {500 / noop_wall:.0f} tasks/s; "
            f"{noop_cpu * 1000 / 500:.1f} ms CPU/task",
        }
    )
    if not args.skip_10k:
        _, seconds, _, peak_kb = bench.run(fan_out_10000)
        rate = 10_002 / seconds
        figures[f"{broker}_fanout10000_ops_per_s"] = round(rate, 1)
        figures[f"{broker}_fanout10000_run_worker_peak_rss_mb"] = round(peak_kb / 1024, 1)
        rows.append(
            {
                "broker": broker,
                "case": "fan_out_10000: rate; run worker peak RSS",
                "figure": f"{rate:.0f} ops/s ({rate / rate_500:.0%} of fan_out_500); "
                f"{peak_kb / 1024:.0f} MB",
                "baseline": "target: >= 80% of fan_out_500's rate; <= 200 MB",
            }
        )
        _, seconds, _, peak_kb = bench.run(grid_100x100)
        figures[f"{broker}_grid100x100_s"] = round(seconds, 1)
        rows.append(
            {
                "broker": broker,
                "case": "grid 100 x 100 (10,000 ops): run time; run worker peak RSS",
                "figure": f"{seconds:.1f}s ({10_000 / seconds:.0f} ops/s); {peak_kb / 1024:.0f} MB",
                "baseline": "-",
            }
        )
    return rows, figures


def _kill_loop_rows(args: argparse.Namespace, bench: _FleetBench, figures: dict) -> list[dict]:
    """The 222-step run fault-free, then under a whole-worker SIGKILL loop."""
    from benchmarks.celery_jobs import fan_and_chain_222

    broker = bench.broker
    rows: list[dict] = []
    bench.start_worker()  # 3 workers, as in issue 14's chaos run
    _, calm, _, _ = bench.run(fan_and_chain_222)
    started = time.monotonic()
    last_kill = [started]
    kills = [0]

    def kill_loop() -> None:
        if time.monotonic() - last_kill[0] < args.kill_every or not bench.names:
            return
        if time.monotonic() - started > KILL_FOR_AT_MOST_SECONDS:
            return  # the run must end some time: report how long it took
        last_kill[0] = time.monotonic()
        bench.kill_worker(bench.names[0])  # the oldest: a whole worker, pool and all
        bench.start_worker(wait=False)
        kills[0] += 1

    run_id, chaotic, _, _ = bench.run(
        fan_and_chain_222, {"max_infra_retries": 100}, during=kill_loop
    )
    bound = bench.instance.config.liveness.step_unclaimed_timeout_seconds
    figures[f"{broker}_kill_loop_222_s"] = round(chaotic, 1)
    figures[f"{broker}_fault_free_222_s"] = round(calm, 1)
    recovery = _recovery(bench, run_id)
    if args.dump:
        _dump_kill_loop(Path(args.dump) / broker, bench, run_id)
    figures.update({f"{broker}_{key}": value for key, value in recovery.items()})
    rows.append(
        {
            "broker": broker,
            "case": f"222 steps on 3 workers, one SIGKILLed every {args.kill_every:g}s "
            f"(for {KILL_FOR_AT_MOST_SECONDS:g}s at most), replaced",
            "figure": f"{chaotic:.1f}s ({kills[0]} kills; {recovery['stranded']:g} attempts "
            f"stranded, found p50 {_seconds(recovery['found_after_kill_s_p50'])} after their "
            f"worker's kill if running, {_seconds(recovery['unclaimed_found_after_kill_s_p50'])} "
            f"if taken but unclaimed ({recovery['stranded_unclaimed']:g}); new attempt started p50 "
            f"{_seconds(recovery['rerun_after_publish_s_p50'])} after its publish, "
            f"max {_seconds(recovery['rerun_after_publish_s_max'])})",
            "baseline": f"fault-free {calm:.1f}s; target <= 2 x {calm:.1f} + {bound:g}s "
            f"= {2 * calm + bound:.1f}s",
        }
    )
    return rows


def _recovery(bench: _FleetBench, run_id: str) -> dict[str, float | None]:
    """Where the kill loop's time went, from the run's step attempts: how many were
    stranded (LOST), how long after their worker's SIGKILL the run worker gave each up
    (those claimed by a known worker), and how long each new attempt then waited in its
    queue before a worker claimed it."""
    attempts = bench.instance.storage.get_step_attempts(run_id)
    by_step: dict[str, list[Any]] = {}
    for attempt in sorted(attempts, key=lambda a: a.queued_at):
        by_step.setdefault(attempt.step_key, []).append(attempt)
    found: list[float] = []
    found_unclaimed: list[float] = []  # taken off the queue by the killed worker, unclaimed
    rerun: list[float] = []
    stranded = unclaimed = 0
    taken_by = _taken_by(bench)
    for tries in by_step.values():
        for lost, after in itertools.pairwise(tries):
            if lost.status.value != "LOST":
                continue
            stranded += 1
            if lost.started_at is None:
                unclaimed += 1
            holder = lost.hostname or taken_by.get(lost.attempt_id, "")
            killed = bench.killed_at.get(holder)
            if killed is not None and lost.ended_at is not None:
                (found if lost.started_at is not None else found_unclaimed).append(
                    lost.ended_at - killed
                )
            if after.started_at is not None:
                rerun.append(after.started_at - after.queued_at)

    def p50(values: list[float]) -> float | None:
        return round(statistics.median(values), 1) if values else None

    # Where the run's time went: the fan-out (until `gather` succeeded), then the chain.
    ends = {a.step_key: a.ended_at for a in attempts if a.status.value == "SUCCESS"}
    starts = [a.queued_at for a in attempts if a.step_key == "start"]
    fan_done = (ends.get("gather") or 0.0) - min(starts or [0.0])
    chain = (ends.get("link_19") or 0.0) - (ends.get("gather") or 0.0)
    return {
        "fan_out_done_s": round(fan_done, 1),
        "chain_s": round(chain, 1),
        "stranded": float(stranded),
        "found_after_kill_s_p50": p50(found),
        "stranded_unclaimed": float(unclaimed),
        "unclaimed_found_after_kill_s_p50": p50(found_unclaimed),
        "rerun_after_publish_s_p50": p50(rerun),
        # The longest wait: one behind the backlog shows here (on RabbitMQ, before the
        # urgent lanes, p50 44 s at load 6-7).
        "rerun_after_publish_s_max": round(max(rerun), 1) if rerun else None,
    }


def _dump_kill_loop(target: Path, bench: _FleetBench, run_id: str) -> None:
    """For a look at one kill-loop run afterwards: its step attempts and events, when each
    worker was killed, and every log of the fleet."""
    import json
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    storage = bench.instance.storage
    attempts = [
        {
            field: getattr(a, field)
            for field in (
                "attempt_id",
                "step_key",
                "attempt_number",
                "hostname",
                "queued_at",
                "started_at",
                "ended_at",
                "priority",
                "queue",
            )
        }
        | {"status": a.status.value}
        for a in storage.get_step_attempts(run_id)
    ]
    events = [
        {"t": e.timestamp, "type": e.event_type, "step": e.step_key, "message": e.message}
        for e in storage.get_events(run_id)
    ]
    (target / "run.json").write_text(
        json.dumps({"attempts": attempts, "events": events, "killed_at": bench.killed_at})
    )
    shutil.copytree(bench.home / "logs", target / "logs", dirs_exist_ok=True)


def _taken_by(bench: _FleetBench) -> dict[str, str]:
    """Attempt id -> the node of the worker that received its message, from the workers'
    logs ("Task <name>[<id>] received"): an attempt never claimed names no worker."""
    received = re.compile(r"Task \S+\[([0-9a-f-]+)\] received")
    taken: dict[str, str] = {}
    for log in (bench.home / "logs").glob("worker-*.log"):
        node = bench.workers.node(log.stem.removeprefix("worker-"))
        for match in received.finditer(log.read_text(errors="replace")):
            taken[match.group(1)] = node
    return taken


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def run_fleet_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    figures: dict[str, float] = {}
    for broker in args.brokers:
        with _ScratchPostgres(args.pg_url) as pg_url:
            more_rows, more = _fleet_rows(args, broker, pg_url)
        rows += more_rows
        figures.update(more)
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from benchmarks.run import report

    parser = argparse.ArgumentParser(description="The Celery fleet suite, on each broker.")
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-10k", action="store_true", help="leave out the 10,000-op runs")
    parser.add_argument(
        "--kill-loop-only",
        action="store_true",
        help="only the 222-step run, fault-free and under the whole-worker SIGKILL loop",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--dump",
        default=None,
        help="a directory to keep each kill-loop run's attempts, events and fleet logs "
        "in (the run worker's at DEBUG), to see where its time went",
    )
    parser.add_argument(
        "--kill-every", type=float, default=KILL_EVERY_SECONDS, help="seconds between kills"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args(argv)
    args.brokers = [b for b in args.brokers.split(",") if b]
    unknown = [b for b in args.brokers if b not in BROKER_URLS]
    if unknown:
        parser.error(f"--brokers: unknown {unknown}; expected some of {sorted(BROKER_URLS)}")
    with tempfile.TemporaryDirectory(prefix="opgraph-bench-") as scratch:
        args.scratch = Path(scratch)
        rows, figures = run_fleet_suite(args)
    return report(rows, figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
