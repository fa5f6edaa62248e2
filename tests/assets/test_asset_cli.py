"""`opgraph assets ...` as a user runs it: real processes, a SQLite home, a run worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = str(Path(__file__).with_name("asset_project.py"))
OPGRAPH = str(Path(sys.executable).parent / "opgraph")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    return subprocess.run(
        [OPGRAPH, "assets", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_list_materialize_show_wipe(tmp_path: Path) -> None:
    listed = cli(tmp_path, "list", "-f", PROJECT, "--group", "raw", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["key"], r["materializable"]) for r in rows] == [
        ("external_feed", False),
        ("raw/orders", True),
    ]

    done = cli(tmp_path, "materialize", "--select", "+revenue", "-f", PROJECT, "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "materializes raw/orders, revenue" in done.stdout

    shown = json.loads(cli(tmp_path, "show", "revenue", "-f", PROJECT, "--json").stdout)
    assert shown["latest_materialization"]["metadata"]["total"] == 100
    assert shown["staleness"] == {"status": "FRESH", "causes": []}
    assert shown["checks"][0]["latest"]["passed"] is True

    listed = json.loads(cli(tmp_path, "list", "-f", PROJECT, "--prefix", "raw", "--json").stdout)
    assert listed[0]["last_run_id"] is not None

    wiped = cli(tmp_path, "wipe", "raw/orders", "--yes")
    assert wiped.returncode == 0 and "Wiped 1 of 1" in wiped.stdout
    shown = json.loads(cli(tmp_path, "show", "revenue", "-f", PROJECT, "--json").stdout)
    assert shown["staleness"]["status"] == "FRESH"  # its upstream has no history now

    bad = cli(tmp_path, "materialize", "--select", "nothing_here", "-f", PROJECT)
    assert bad.returncode == 2 and "selects no materializable asset" in bad.stderr


def test_locations_list_leaves_out_the_implicit_asset_job(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file: {PROJECT}\n")
    env = {**os.environ, "OPGRAPH_HOME": str(tmp_path)}
    listed = subprocess.run(
        [OPGRAPH, "locations", "list", "-w", str(workspace), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    [location] = json.loads(listed.stdout)
    assert "marts_job" in location["jobs"]
    assert not [name for name in location["jobs"] if name.startswith("__ASSET_JOB")]
