"""Code locations: how fast a workspace of supervised code servers loads and answers.

    python benchmarks/workspace.py [--locations 5] [--repeat 3] [--calls 200] [--json]

Each location is a copy of a realistic job file (7 ops, config classes, a resource, two
schedules, a sensor). "load" is from `load_workspace()` until every location is LOADED
and its job snapshots are fetched; every figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "workspace"))

from workspace_code import JOBS  # noqa: E402  (after the path set-up above)

from opgraph.workspace.base import LocationState, Workspace  # noqa: E402
from opgraph.workspace.load import load_workspace  # noqa: E402
from opgraph.workspace.supervisor import ManagedCodeLocation  # noqa: E402

VALID = {"ops": {"limit": {"config": 2}, "greet": {"config": {"times": 1}}}}


def _write_workspace(directory: Path, count: int) -> Path:
    for index in range(count):
        (directory / f"loc{index}.py").write_text(JOBS)
    path = directory / "workspace.yaml"
    path.write_text("load_from:\n" + "".join(f"  - python_file: loc{i}.py\n" for i in range(count)))
    return path


def _load(path: Path, home: Path) -> tuple[float, Workspace]:
    started = time.perf_counter()
    workspace = load_workspace(path, home)
    for location in workspace.locations():
        assert location.status().state is LocationState.LOADED, location.status().error
        location.jobs()
    return time.perf_counter() - started, workspace


def _per_call_ms(call: Callable[[], object], calls: int) -> float:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _latencies(location: ManagedCodeLocation, calls: int) -> dict[str, float]:
    return {
        "status_ms": _per_call_ms(location.status, calls),
        "jobs_cached_ms": _per_call_ms(location.jobs, calls),
        "validate_ms": _per_call_ms(
            lambda: location.validate_run_config("hello_job", VALID), calls
        ),
        "evaluate_schedule_ms": _per_call_ms(
            lambda: location.evaluate_schedule("hourly", time.time()), calls
        ),
    }


def run(count: int, repeat: int, calls: int) -> dict[str, float]:
    loads, reloads, restarts = [], [], []
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="opgraph-bench-ws-") as scratch:
        directory = Path(scratch)
        path = _write_workspace(directory, count)
        for attempt in range(repeat):
            elapsed, workspace = _load(path, directory / "home")
            loads.append(elapsed)
            try:
                location = workspace.locations()[0]
                assert isinstance(location, ManagedCodeLocation)
                started = time.perf_counter()
                location.reload()
                reloads.append(time.perf_counter() - started)

                pid = location.pid
                assert pid is not None
                started = time.perf_counter()
                os.kill(pid, signal.SIGKILL)
                while location.pid == pid or location.status().state is not LocationState.LOADED:
                    time.sleep(0.005)
                restarts.append(time.perf_counter() - started)

                if attempt == 0:
                    figures.update(_latencies(location, calls))
            finally:
                workspace.close()
    figures.update(load_s=min(loads), load_median_s=statistics.median(loads), reload_s=min(reloads))
    figures["restart_after_kill_s"] = min(restarts)  # includes the supervisor's 0.5 s backoff
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--locations", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200, help="calls per latency figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    if args.locations < 1 or args.repeat < 1 or args.calls < 1:
        parser.error("--locations, --repeat and --calls must be at least 1")
    figures = run(args.locations, args.repeat, args.calls)
    print(f"{args.locations}-location workspace on {os.cpu_count()} CPUs, best of {args.repeat}:")
    for name, value in figures.items():
        print(f"  {name:<22} {value:8.3f}")
    if args.json:
        print(json.dumps({"locations": args.locations, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
