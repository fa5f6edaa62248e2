"""What a Celery worker start costs: opgraph's step worker (`python -m opgraph_celery.worker`)
against a raw Celery worker that imports nothing of opgraph (benchmarks.celery_bare_worker)
started the same way, on the same broker, with the same Celery settings and options
(concurrency 2, no gossip, no mingle), one start of each in turn so both see the same load.

    python -m benchmarks.worker_start [--starts 5] [--broker redis|rabbitmq]

A fleet whose workers die waits for their replacements (docs/celery.md, "Where the kill
loop's time goes"): on a loaded machine a start's wall time grows with its CPU-seconds.
Per start: seconds until the worker logs "ready.", and the CPU-seconds of its main
process and of all its processes `SETTLE_SECONDS` later (opgraph's pool processes warm up
just after "ready.", in a thread: that is part of a start too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from benchmarks.celery_bare_worker import SETTINGS_ENV
from benchmarks.celery_suite import BROKER_URLS
from benchmarks.core import _ScratchPostgres
from benchmarks.run import report
from opgraph_celery.settings import celery_settings

REPO = Path(__file__).resolve().parents[1]  # where `benchmarks` imports from
SETTLE_SECONDS = 1.5
READY_TIMEOUT_SECONDS = 120.0


def _start(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> tuple[float, float, float]:
    """(seconds to "ready.", main process CPU-seconds, all processes' CPU-seconds)."""
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        while b" ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() - started > READY_TIMEOUT_SECONDS:
                raise RuntimeError(f"worker did not start; see {log}:\n{log.read_text()[-2000:]}")
            time.sleep(0.01)
        ready = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)  # the pool processes' warm-up
        return ready, _cpu_seconds(process.pid), sum(map(_cpu_seconds, _tree(process.pid)))
    finally:
        process.terminate()
        process.wait(60)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a live process, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return [pid, *(p for child in children for p in _tree(child))]


def run(args: argparse.Namespace) -> tuple[list[dict], dict]:
    broker_url = BROKER_URLS[args.broker]
    queue = f"bench-start-{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory(prefix="opgraph-bench-") as scratch,
        _ScratchPostgres(args.pg_url) as pg_url,
    ):
        home = Path(scratch)
        config = {
            "storage": {"url": pg_url},
            "celery": {"broker_url": broker_url, "default_queue": queue},
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "OPGRAPH_HOME": str(home),
            SETTINGS_ENV: json.dumps(celery_settings(broker_url, queue)),
        }
        measured: dict[str, list[tuple[float, float, float]]] = {"opgraph": [], "raw": []}
        for n in range(args.starts):
            node = f"start{n}-{queue}@%h"
            opgraph_worker = [
                sys.executable, "-P", "-m", "opgraph_celery.worker", "-Q", queue,
                "--concurrency", "2", "-n", node, "--loglevel", "INFO",
                "--without-gossip", "--without-mingle",
            ]  # fmt: skip
            raw_node = f"raw-{node}".replace("%h", os.uname().nodename)
            raw_worker = [
                sys.executable,
                "-m",
                "benchmarks.celery_bare_worker",
                queue,
                raw_node,
            ]
            measured["opgraph"].append(_start(opgraph_worker, env, home / f"opgraph-{n}.log", home))
            measured["raw"].append(_start(raw_worker, env, home / f"raw-{n}.log", REPO))
    figures: dict[str, float] = {}
    rows = []
    for name, starts in measured.items():
        ready, main_cpu, all_cpu = (
            statistics.median(column) for column in zip(*starts, strict=True)
        )
        figures |= {f"{name}_ready_s": round(ready, 2), f"{name}_cpu_s": round(all_cpu, 2)}
        figures[f"{name}_main_cpu_s"] = round(main_cpu, 2)
        rows.append(
            {
                "worker": "opgraph step worker"
                if name == "opgraph"
                else "raw Celery (no-op task, no opgraph)",
                "ready (median)": f"{ready:.2f}s",
                "CPU-seconds, main process": f"{main_cpu:.2f}",
                "CPU-seconds, all processes": f"{all_cpu:.2f}",
                "starts": len(starts),
            }
        )
    rows[0]["baseline"] = f"{figures['opgraph_cpu_s'] / figures['raw_cpu_s']:.1f}x raw Celery's CPU"
    rows[1]["baseline"] = "-"
    figures["load_average"] = round(os.getloadavg()[0], 1)
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=5, help="starts of each worker")
    parser.add_argument("--broker", choices=sorted(BROKER_URLS), default="redis")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.starts < 1:
        parser.error(f"--starts: expected at least 1, got {args.starts}")
    rows, figures = run(args)
    return report(rows, figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
