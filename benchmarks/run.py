"""Reproducible benchmarks. Each suite compares against a baseline run in the same process.

    python benchmarks/run.py --suite core [--json] [--repeat N]

With --json the last line printed is one JSON object of named figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    assets,
    automation,
    celery_suite,
    cli,
    core,
    daemon,
    latency,
    partitions,
    ui_steps,
    web,
    web_streams,
)

SUITES: dict[str, Callable[[argparse.Namespace], tuple[list[dict], dict]]] = {
    "core": core.run_suite,
    "assets": assets.run_suite,
    "assets_celery": assets.run_celery_suite,
    "assets_sensor": assets.run_sensor_suite,
    "automation": automation.run_suite,
    "web": web.run_suite,
    "web_streams": web_streams.run_suite,
    "celery": celery_suite.run_suite,
    "daemon": daemon.run_suite,
    "cli": cli.run_suite,
    "latency": latency.run_suite,
    "partitions": partitions.run_suite,
    "ui_steps": ui_steps.run_suite,
}


def print_table(rows: list[dict]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


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
        rows, figures = SUITES[args.suite](args)
    print_table(rows)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
