"""`opgraph dev -c` reads the run config under the instance's limits, as `opgraph webserver` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml


def _dev(home: Path, config: Path, jobs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    # Its own session: if the config were accepted, dev would start the whole stack;
    # the group is then stopped so nothing it started outlives the test.
    proc = subprocess.Popen(
        [sys.executable, "-m", "opgraph_app", "dev", "-f", str(jobs), "-c", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_dev_config_refused_past_the_instance_limit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    limits = {"webserver": {"limits": {"run_config": {"max_depth": 3}}}}
    (home / "instance.yaml").write_text(yaml.safe_dump(limits))
    jobs = tmp_path / "jobs.py"
    jobs.write_text("")
    config = tmp_path / "run.yaml"
    # Depth 5: within the default limit (64), past the instance's (3).
    config.write_text(yaml.safe_dump({"ops": {"a": {"config": {"b": {"c": 1}}}}}))

    done = _dev(home, config, jobs)

    assert done.returncode == 2, done.stderr
    assert "-c/--config" in done.stderr
    assert "max_depth" in done.stderr and "3" in done.stderr
