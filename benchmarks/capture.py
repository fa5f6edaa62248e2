"""What a print costs under step output capture (opgraph.compute_logs), per capture kind:
one stream only, and alternating stdout/stderr (each switch is recorded for the combined
view's order).

    python benchmarks/capture.py [--prints N] [--repeat R]

Prints microseconds per print, the best of R rounds (the machine is shared: the best round
is the least disturbed one).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opgraph.compute_logs import capture_file_descriptors, capture_python_streams

CAPTURES = {"python": capture_python_streams, "fd": capture_file_descriptors}


def one_round(capture: str, alternating: bool, prints: int) -> float:
    base = Path(tempfile.mkdtemp(prefix="opgraph-capture-"))
    started = time.perf_counter()
    with CAPTURES[capture](base, "run", "step"):
        for i in range(prints // 2):
            print("line", i, flush=alternating)
            print("line", i, file=sys.stderr if alternating else sys.stdout, flush=alternating)
    return (time.perf_counter() - started) / prints * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prints", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeat):
        for capture in CAPTURES:
            for pattern in ("stdout only", "alternating"):
                us = one_round(capture, pattern == "alternating", args.prints)
                key = (capture, pattern)
                best[key] = min(best.get(key, us), us)
    print(f"{'capture':8} {'pattern':12} us_per_print", file=sys.__stdout__)
    for (capture, pattern), us in best.items():
        print(f"{capture:8} {pattern:12} {us:.2f}", file=sys.__stdout__)


if __name__ == "__main__":
    main()
