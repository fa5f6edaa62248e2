"""Code locations answer for partitions: a job snapshot's partitions, and each partition's
run config from the job's PartitionedConfig — in process and from a real code server over
HTTP (the daemon and the webserver never load user code)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph.partitions.snapshot import partitions_from_snapshot
from opgraph.workspace.base import CodeLocation, CodeLocationError, LocationState
from opgraph.workspace.client import ServerCodeLocation

ROOT = Path(__file__).resolve().parents[2]

JOBS = """
from opgraph import Definitions, daily_partitioned_config, job, op, static_partitioned_config


@daily_partitioned_config(start_date="2024-01-01", tags_for_partition_fn=lambda s, e: {"month": s.strftime("%m")})
def day_config(start, end):
    return {"ops": {"load": {"config": {"day": start.strftime("%Y-%m-%d")}}}}


@op(config_schema={"day": str})
def load(context):
    return context.op_config["day"]


@job(config=day_config)
def daily_job():
    load()


@static_partitioned_config(["ok", "broken"])
def fragile_config(key):
    if key == "broken":
        raise ValueError("no config for broken")
    return {}


@op
def noop():
    pass


@job(config=fragile_config)
def fragile_job():
    noop()


defs = Definitions(jobs=[daily_job, fragile_job])
"""


def _wait(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "partition_jobs.py"
    path.write_text(JOBS)
    return path


@pytest.fixture
def server(tmp_path: Path, jobs_file: Path) -> Iterator[ServerCodeLocation]:
    port_file = tmp_path / "port.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opgraph_app.code_server",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "-f",
            str(jobs_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: port_file.exists() or process.poll() is not None, "the port file")
        assert process.poll() is None, process.communicate()[0].decode()
        info = json.loads(port_file.read_text())
        client = ServerCodeLocation("jobs", info["host"], info["port"])
        _wait(lambda: client.status().state is not LocationState.LOADING, "the load")
        yield client
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def in_process(jobs_file: Path) -> Iterator[CodeLocation]:
    from opgraph.workspace.in_process import InProcessCodeLocation

    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    yield location
    location.close()


@pytest.mark.parametrize("which", ["in_process", "server"])
def test_partition_runs_and_snapshot(which: str, request: pytest.FixtureRequest) -> None:
    location: Any = request.getfixturevalue(which)
    snapshot = location.job("daily_job")
    assert snapshot.has_partitioned_config
    partitions = partitions_from_snapshot(snapshot.partitions)
    assert partitions is not None and partitions.get_first_partition_key() == "2024-01-01"
    runs = location.partition_runs("daily_job", ["2024-02-03", "2024-01-31"])
    assert [r.partition_key for r in runs] == ["2024-02-03", "2024-01-31"]
    assert runs[0].run_config == {"ops": {"load": {"config": {"day": "2024-02-03"}}}}
    assert runs[0].tags == {"month": "02", "dagster/partition": "2024-02-03"}
    with pytest.raises(CodeLocationError, match="no config for broken"):
        location.partition_runs("fragile_job", ["ok", "broken"])
