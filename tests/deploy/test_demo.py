"""`make demo` (`python -m examples.demo --once`): the example job end to end on Celery."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.web_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_example_job_on_celery_and_stops(tmp_path):
    env = {**os.environ, "OPGRAPH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: the demo stops after the run by itself
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "code location examples: LOADED (daily_sales_job)" in out
    # The flaky op was retried, every step ran on the dev worker, the result is right.
    assert "STEP_UP_FOR_RETRY" in out
    steps = [line.split() for line in out.splitlines() if line.endswith("@" + os.uname()[1])]
    assert len(steps) == 11, out  # list, 8 partitions, rates, summary
    assert {row[1] for row in steps} == {"SUCCESS"}
    assert "'revenue': {'EUR': 924.0, 'USD': 997.92, 'GBP': 794.64}" in out
    assert out.rstrip().endswith("nothing left running")
