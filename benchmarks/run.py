"""Reproducible benchmarks. Each suite compares against a baseline run in the same process.

    python benchmarks/run.py --suite core [--json] [--repeat N]

With --json the last line printed is one JSON object of named figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Suite name -> "module:function" of benchmarks/, imported only when that suite runs. The
# multiprocess executor's workers import __main__ (this file) again when they start: with
# every suite imported here (Flask, graphene, Celery, Playwright) a worker start took
# 0.5-0.9 s more, and the core suite's multiprocess chain of 20 measured 0.79 s, not 0.26.
SUITES: dict[str, str] = {
    "core": "core:run_suite",
    "assets": "assets:run_suite",
    "assets_celery": "assets:run_celery_suite",
    "assets_sensor": "assets:run_sensor_suite",
    "automation": "automation:run_suite",
    "web": "web:run_suite",
    "web_streams": "web_streams:run_suite",
    "celery": "celery_suite:run_suite",
    "daemon": "daemon:run_suite",
    "cli": "cli:run_suite",
    "latency": "latency:run_suite",
    "partitions": "partitions:run_suite",
    "ui_steps": "ui_steps:run_suite",
}


def suite(name: str) -> Callable[[argparse.Namespace], tuple[list[dict], dict]]:
    module, function = SUITES[name].split(":")
    return getattr(importlib.import_module(f"benchmarks.{module}"), function)  # type: ignore[no-any-return]


def print_table(rows: list[dict]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


def report(rows: list[dict], figures: dict, as_json: bool) -> int:
    """Print a benchmark's table, then its figures as one JSON line if asked; exit code 0."""
    print_table(rows)
    if as_json:
        print(json.dumps(figures))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--suite", choices=sorted(SUITES), default="core")
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server for the storage cases (a scratch database is created and dropped)",
    )
    parser.add_argument(
        "--viewers", type=int, default=500, help="web_streams: live streams held open at once"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="opgraph-bench-") as scratch:
        args.scratch = Path(scratch)
        rows, figures = suite(args.suite)(args)
    return report(rows, figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
