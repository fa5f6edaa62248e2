"""`opgraph backfill ...` as a user runs it: the real `opgraph` command, a SQLite home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

OPGRAPH = str(Path(sys.executable).parent / "opgraph")

JOBS = """
from opgraph import DailyPartitionsDefinition, job, op


@op
def noop():
    pass


@job(partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"))
def daily_job():
    noop()
"""


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    return subprocess.run(
        [OPGRAPH, "backfill", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_launch_list_show_cancel_resume(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.py"
    jobs.write_text(JOBS)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": str(jobs)}]}))
    args = ["--job", "daily_job", "-w", str(workspace), "--max-in-flight", "4"]
    launched = cli(tmp_path, "launch", *args, "--partitions", "2024-01-01...2024-12-31", "--json")
    assert launched.returncode == 0, launched.stderr
    backfill = json.loads(launched.stdout)
    assert backfill["partitions"] == 366 and backfill["status"] == "REQUESTED"
    assert backfill["partition_statuses"] == {"PENDING": 366}

    listed = json.loads(cli(tmp_path, "list", "--json").stdout)
    assert [b["id"] for b in listed] == [backfill["id"]]
    shown = cli(tmp_path, "show", backfill["id"])
    assert "REQUESTED" in shown.stdout and "PENDING" in shown.stdout

    canceled = cli(tmp_path, "cancel", backfill["id"])
    assert canceled.returncode == 0 and "CANCELING" in canceled.stdout
    again = cli(tmp_path, "cancel", backfill["id"])
    assert again.returncode == 2 and "only a REQUESTED one can be canceled" in again.stderr
    not_yet = cli(tmp_path, "resume", backfill["id"])
    assert not_yet.returncode == 2 and "is CANCELING" in not_yet.stderr

    both = cli(tmp_path, "launch", *args)
    assert both.returncode == 2 and "--partitions FIRST...LAST" in both.stderr
    unknown = cli(tmp_path, "launch", *args, "--partitions", "2023-01-01,2024-01-02")
    assert unknown.returncode != 0 and "'2023-01-01'" in unknown.stderr
    missing = cli(tmp_path, "show", "nope")
    assert missing.returncode == 2 and "no backfill 'nope'" in missing.stderr


ASSETS = """
from opgraph import DailyPartitionsDefinition, Definitions, asset

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")


@asset(partitions_def=DAILY)
def raw(context):
    return 1


@asset(partitions_def=DAILY)
def clean(context, raw):
    return raw


defs = Definitions(assets=[raw, clean])
"""


def test_asset_selection_and_missing_partitions(tmp_path: Path) -> None:
    code = tmp_path / "assets.py"
    code.write_text(ASSETS)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": str(code)}]}))
    w = ["-w", str(workspace)]
    launched = cli(tmp_path, "launch", "--select", "clean,raw", "--missing", *w, "--json")
    assert launched.returncode == 0, launched.stderr
    backfill = json.loads(launched.stdout)
    assert backfill["partitions"] == 62 and backfill["assets"] == ["raw", "clean"]
    assert backfill["selection"] == {"missing": True} and backfill["job"] is None
    shown = cli(tmp_path, "show", backfill["id"])
    assert "assets     raw, clean" in shown.stdout
    ranged = cli(
        tmp_path, "launch", "--select", "raw", "--partitions", "2024-01-03...2024-01-04", *w
    )
    assert ranged.returncode == 0 and "2 partitions of raw" in ranged.stdout
    neither = cli(tmp_path, "launch", "--missing", *w)
    assert neither.returncode == 2 and "--job JOB or --select" in neither.stderr
    two = cli(tmp_path, "launch", "--select", "raw", "--missing", "--failed", *w)
    assert two.returncode == 2 and "give one of" in two.stderr
    nowhere = cli(tmp_path / "empty", "launch", "--select", "raw", "--missing")
    assert nowhere.returncode != 0 and "the workspace has no code locations" in nowhere.stderr
    elsewhere = cli(tmp_path, "launch", "--select", "nope", "--missing", *w)
    assert elsewhere.returncode != 0 and "(locations: ['assets'])" in elsewhere.stderr


def test_assets_partitions_shows_each_partitions_status(tmp_path: Path) -> None:
    import importlib.util

    from opgraph import materialize
    from opgraph.instance import OpgraphInstance

    code = tmp_path / "assets.py"
    code.write_text(ASSETS)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": str(code)}]}))
    spec = importlib.util.spec_from_file_location("partitions_cli_assets", code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    instance = OpgraphInstance.get(tmp_path)
    for day in ("2024-01-02", "2024-01-03"):
        materialize([module.raw], partition_key=day, instance=instance)
    instance.dispose()

    env = {**os.environ, "OPGRAPH_HOME": str(tmp_path)}

    def assets(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPGRAPH, "assets", "partitions", *args, "-w", str(workspace)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    shown = assets("raw")
    assert shown.returncode == 0, shown.stderr
    assert "31 partitions: 2 materialized, 0 failed, 0 in progress, 29 missing" in shown.stdout
    assert ".MM" + "." * 28 in shown.stdout
    rows = [line.split() for line in shown.stdout.splitlines()[2:5]]
    assert rows == [
        ["missing", "2024-01-01", "2024-01-01", "1"],
        ["materialized", "2024-01-02", "2024-01-03", "2"],
        ["missing", "2024-01-04", "2024-01-31", "28"],
    ]
    as_json = json.loads(assets("raw", "--json").stdout)["partitions"]
    assert as_json["2024-01-02"] == "materialized" and as_json["2024-01-01"] == "missing"
    unknown = assets("nope")
    assert unknown.returncode == 2 and "no asset nope" in unknown.stderr
