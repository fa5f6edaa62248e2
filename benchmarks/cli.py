"""The command line's start-up: `opgraph --help` and `--version` against `import opgraph`.

    python benchmarks/cli.py [--repeat 10] [--json]
    python benchmarks/run.py --suite cli [--repeat N] [--json]

Every case is a new process (what a user waits for at the prompt), started from an empty
directory with an empty OPGRAPH_HOME; the cases take turns, --repeat rounds, so a busy
machine slows them all alike. `import opgraph` is the baseline; `flask --app opgraph_app
--help` builds the whole app, which is what `opgraph --help` did before its commands were
loaded lazily.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PYTHON = str(Path(sys.executable))
BASELINE = "python -c 'import opgraph'"
CASES: dict[str, list[str]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    BASELINE: [PYTHON, "-c", "import opgraph"],
    "opgraph --version": [str(BIN / "opgraph"), "--version"],
    "opgraph --help": [str(BIN / "opgraph"), "--help"],
    "opgraph runs --help": [str(BIN / "opgraph"), "runs", "--help"],
    "flask --app opgraph_app --help": [str(BIN / "flask"), "--app", "opgraph_app", "--help"],
}


def _time_once(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(repeat: int, scratch: Path) -> dict[str, list[float]]:
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    for argv in CASES.values():  # warm the OS page cache and .pyc files once, untimed
        _time_once(argv, scratch, env)
    timings: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeat):
        for name, argv in CASES.items():
            timings[name].append(_time_once(argv, scratch, env))
    return timings


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    timings = measure(args.repeat, args.scratch)
    baseline = statistics.median(timings[BASELINE])
    rows, figures = [], {}
    for name, values in timings.items():
        median = statistics.median(values)
        rows.append(
            {
                "command": name,
                "median ms": f"{median * 1000:.0f}",
                "best ms": f"{min(values) * 1000:.0f}",
                "worst ms": f"{max(values) * 1000:.0f}",
                "vs import opgraph": f"{median / baseline:.2f}x",
            }
        )
        figures[f"{name} median ms"] = round(median * 1000, 1)
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10, help="rounds over all the cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.run import report

    with tempfile.TemporaryDirectory(prefix="opgraph-bench-") as scratch:
        args.scratch = Path(scratch)
        rows, figures = run_suite(args)
    print(f"{args.repeat} rounds; every figure is one new process")
    return report(rows, figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
