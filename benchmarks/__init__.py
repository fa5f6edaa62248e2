"""opgraph's benchmarks: `python -m benchmarks.<suite>` (see benchmarks/run.py).

They measure what a deployed install runs. `pip install` of the wheel byte-compiles opgraph;
the editable install does not, and with PYTHONDONTWRITEBYTECODE set Python never caches
the compiled modules, so every worker, run worker and code server a benchmark starts would
compile them again (about 0.3 CPU-seconds of a Celery worker's 1.2 at its start). The
benchmarks byte-compile the project first, as the Makefile's `bench` target does.
"""

import compileall
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_SOURCES = ("opgraph", "celery_executor", "storage", "app", "launchers", "examples", "benchmarks")

for _source in _SOURCES:
    compileall.compile_dir(_REPO / _source, quiet=1)
