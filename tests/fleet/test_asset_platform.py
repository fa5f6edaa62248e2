"""Every asset shape of tests/assets/asset_project.py through the whole platform: a code
server started on its own (the webserver's workspace names only its port, so the webserver
never imports the project), `launchAssetRun` / `launchRun` over a real webserver
(`opgraph webserver`), a run worker subprocess, the Celery executor on real `celery worker`
processes (Redis and RabbitMQ), PostgreSQL; the catalog read back through GraphQL.

The platform (fleet, code server, webserver) is shared by the tests of one broker; each
test materializes what it reads, so any one of them runs alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.ports import RUN_WORKER_PID_TAG
from tests.celery_fleet import BROKERS, Fleet, make_fleet
from tests.web_server import OPGRAPH_WEBSERVER, ROOT, Webserver

PROJECT = ROOT / "tests" / "assets" / "asset_project.py"
CELERY = {"execution": {"config": {"celery": {}}}}
TIMEOUT = 180.0  # seconds for a run of a few steps at a load of 10

LAUNCH_ASSETS = """mutation($keys: [AssetKeyInput!]!, $config: JSONString, $tags: JSONString) {
  launchAssetRun(assetKeys: $keys, runConfigData: $config, tags: $tags) {
    __typename ... on LaunchRunSuccess { run { runId jobName } } ... on Error { message } } }"""
LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId jobName } } ... on Error { message } } }"""
REEXECUTE = """mutation($parent: String!) {
  launchRunReexecution(parentRunId: $parent, strategy: FROM_FAILURE) {
    __typename ... on LaunchRunSuccess { run { runId jobName parentRunId } }
    ... on Error { message } } }"""
RUN = """query($id: String!) { runOrError(runId: $id) { ... on Run {
  status jobName failureMessage runConfig tags { key value }
  stepStats { stepKey status attempts worker } liveStepAttempts { stepKey } } } }"""
EVENTS = """query($id: String!, $after: String) { logsForRun(runId: $id, afterCursor: $after,
  limit: 500) { ... on EventConnection { events { eventType stepKey data message }
  cursor hasMore } } }"""
ASSET = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { latestMaterialization { runId stepKey metadata codeVersion }
    definition { dependencyKeys { path } staleness { status causes }
      assetChecks { name blocking latestExecution { runId passed status metadata } } } } } }"""
CHECK_EXECUTIONS = """query($key: AssetKeyInput!) { assetCheckExecutions(assetKey: $key,
  limit: 5) { checkName runId passed status severity metadata } }"""


def key(text: str) -> dict[str, list[str]]:
    return {"path": text.split("/")}


def processes_with_home(home: Path) -> list[int]:
    """Live processes (not zombies) whose environment has OPGRAPH_HOME=home: the
    webserver, its zygote and run workers, the code server, the Celery workers and their
    pools all do; this test's own process does not."""
    needle = f"OPGRAPH_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # exited meanwhile, or not ours to read
        if state != "Z" and needle in environ:
            found.append(int(entry.name))
    return found


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (exited)"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling a fact, not waiting for time to pass
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class CodeServer:
    """`python -m opgraph_app.code_server -f PROJECT` on a free port (from its port file)."""

    def __init__(self, home: Path, project: Path):
        port_file = home / "code-server.port.json"
        self.log = open(home / "code-server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "opgraph_app.code_server", "--port", "0"),
                *("--port-file", str(port_file), "-f", str(project)),
            ],
            cwd=ROOT,
            env={**os.environ, "OPGRAPH_HOME": str(home)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: port_file.exists() or self.process.poll() is not None,
            "the code server's port file",
            60,
        )
        assert self.process.poll() is None, (home / "code-server.log").read_text()
        self.port = json.loads(port_file.read_text())["port"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@dataclass
class Platform:
    fleet: Fleet
    webserver: Webserver
    code_server: CodeServer

    def gql(self, query: str, variables: dict | None = None) -> dict:
        return self.webserver.gql(query, variables)

    def launch_assets(self, keys: list[str], tags: dict[str, str] | None = None) -> str:
        variables = {
            "keys": [key(k) for k in keys],
            "config": json.dumps(CELERY),
            "tags": json.dumps(tags or {}),
        }
        result = self.gql(LAUNCH_ASSETS, variables)["launchAssetRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def launch_run(self, selector: dict[str, Any], tags: dict[str, str] | None = None) -> str:
        params = {
            "selector": {"locationName": "assets", **selector},
            "runConfigData": CELERY,
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
        result = self.gql(LAUNCH_RUN, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def finish(self, run_id: str, expected: str = "SUCCESS") -> dict[str, Any]:
        """Wait through GraphQL for the run to end; check it ended as `expected`, that its
        run worker exited, and that every step ran on the fleet's Celery worker."""

        def finished() -> dict[str, Any] | None:
            run = self.gql(RUN, {"id": run_id})["runOrError"]
            return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

        run = wait_for(finished, f"run {run_id} to finish")
        assert run["status"] == expected, (run["failureMessage"], self.webserver.output()[-3000:])
        assert run["runConfig"] == CELERY
        assert run["liveStepAttempts"] == []
        tags = {t["key"]: t["value"] for t in run["tags"]}
        pid = int(tags[RUN_WORKER_PID_TAG])
        wait_for(lambda: not alive(pid), f"run worker {pid} of run {run_id} to exit", 60)
        worker = self.fleet.node("w1")
        started = [s for s in run["stepStats"] if s["status"] != "SKIPPED"]
        assert started and {s["worker"] for s in started} == {worker}, run["stepStats"]
        # Each step's events came from a pool process of that worker, not the run worker.
        pool = set(self.fleet.local.pids("w1"))
        starts = [
            e for e in self.events(run_id) if e["eventType"] in ("STEP_START", "STEP_RESTARTED")
        ]
        assert {e["data"]["worker"] for e in starts} == {worker}
        assert {e["data"]["pid"] for e in starts} <= pool - {pid}, (starts, pool)
        # The attempts table, where a worker claims a step before running it, agrees: one
        # attempt per start, each claimed by that worker, on the fleet's queue.
        attempts = self.fleet.instance.storage.get_step_attempts(run_id=run_id)
        assert sorted(a.step_key for a in attempts) == sorted(e["stepKey"] for e in starts)
        assert {(a.hostname, a.queue) for a in attempts} == {(worker, self.fleet.queue)}
        assert {a.pid for a in attempts} == {e["data"]["pid"] for e in starts}
        return run

    def events(self, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.gql(EVENTS, {"id": run_id, "after": cursor})["logsForRun"]
            found += page["events"]
            cursor = page["cursor"]
            if not page["hasMore"]:
                return found

    def steps_started(self, run_id: str) -> list[str]:
        return sorted(
            {str(e["stepKey"]) for e in self.events(run_id) if e["eventType"] == "STEP_START"}
        )

    def asset(self, text: str) -> dict[str, Any]:
        found = self.gql(ASSET, {"key": key(text)})["assetOrError"]
        assert found["__typename"] == "Asset", found
        return dict(found)

    def ensure(self, keys: list[str]) -> None:
        """Materialize `keys` once, for a test that reads them (another test may have)."""
        if any(self.asset(k)["latestMaterialization"] is None for k in keys):
            self.finish(self.launch_assets(keys))


@pytest.fixture(scope="module", params=BROKERS)
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("asset_platform")
    with make_fleet(request, home, request.param) as fleet:
        code_server = CodeServer(home, PROJECT)
        try:
            workspace = {
                "load_from": [{"server": {"port": code_server.port, "location_name": "assets"}}]
            }
            (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
            webserver = Webserver(home, command=OPGRAPH_WEBSERVER)  # as production runs it
            try:
                yield Platform(fleet, webserver, code_server)
            finally:
                webserver.stop()
        finally:
            code_server.stop()
    # Everything the platform started has exited: the webserver, its zygote and run
    # workers, the code server, the Celery workers and their pool processes.
    deadline = time.monotonic() + 60
    while left := processes_with_home(home):
        assert time.monotonic() < deadline, f"left behind: {[command(p) for p in left]}"
        time.sleep(0.1)  # polling for the processes to exit


def test_the_webserver_reads_the_project_from_the_code_server(platform: Platform) -> None:
    nodes = platform.gql("{ assetNodes { assetKey { path } locationName } }")["assetNodes"]
    assert {"/".join(n["assetKey"]["path"]) for n in nodes} == {
        "customers",
        "doubled_revenue",
        "external_feed",
        "raw/orders",
        "regions",
        "report",
        "revenue",
    }
    assert {n["locationName"] for n in nodes} == {"assets"}
    # What the teardown checks has exited is seen while it runs.
    assert {
        platform.webserver.process.pid,
        platform.code_server.process.pid,
        *platform.fleet.local.pids("w1"),
    } <= set(processes_with_home(platform.webserver.home))
    # The webserver's workspace names a port, not a file: the project is loaded by the
    # code server alone.
    assert "asset_project" not in (platform.webserver.home / "workspace.yaml").read_text()


def test_a_plain_asset_with_an_external_dep_and_its_blocking_check(platform: Platform) -> None:
    run_id = platform.launch_assets(["raw/orders"])
    run = platform.finish(run_id)
    assert run["jobName"] == "__ASSET_JOB[raw~orders]"
    orders = platform.asset("raw/orders")
    assert orders["latestMaterialization"]["runId"] == run_id
    assert orders["latestMaterialization"]["codeVersion"] == "1"
    assert orders["latestMaterialization"]["metadata"]["row_count"] == {"type": "int", "value": 4}
    definition = orders["definition"]
    assert definition["dependencyKeys"] == [key("external_feed")]
    assert definition["staleness"] == {"status": "FRESH", "causes": []}
    [check] = definition["assetChecks"]
    assert check["name"] == "orders_not_empty" and check["blocking"]
    assert check["latestExecution"] == {
        "runId": run_id,
        "passed": True,
        "status": "SUCCEEDED",
        "metadata": {"rows": 4},
    }
    executions = platform.gql(CHECK_EXECUTIONS, {"key": key("raw/orders")})
    latest = executions["assetCheckExecutions"][0]
    assert (latest["checkName"], latest["runId"], latest["severity"]) == (
        "orders_not_empty",
        run_id,
        "ERROR",
    )


def test_an_asset_with_ins_a_blocking_upstream_check_and_a_retry(
    platform: Platform, tmp_path: Path
) -> None:
    marker = tmp_path / "flaky"
    run_id = platform.launch_assets(["raw/orders", "revenue"], {"test/flaky_marker": str(marker)})
    run = platform.finish(run_id)
    assert marker.read_text() == "failed once"  # written by the first attempt, on the worker
    [revenue_step] = [s for s in run["stepStats"] if s["stepKey"] == "revenue"]
    assert revenue_step["attempts"] == 2 and revenue_step["status"] == "SUCCESS"
    events = platform.events(run_id)
    kinds = [(e["eventType"], e["stepKey"]) for e in events]
    assert ("STEP_UP_FOR_RETRY", "revenue") in kinds
    # The blocking check on raw/orders was evaluated before revenue first started.
    checked = next(
        i
        for i, e in enumerate(events)
        if e["eventType"] == "ASSET_CHECK_EVALUATION"
        and e["data"].get("check_name") == "orders_not_empty"
    )
    assert checked < kinds.index(("STEP_START", "revenue"))

    revenue = platform.asset("revenue")
    assert revenue["latestMaterialization"]["runId"] == run_id
    assert revenue["latestMaterialization"]["metadata"]["total"] == 100
    assert revenue["definition"]["dependencyKeys"] == [key("raw/orders")]
    assert revenue["definition"]["staleness"] == {"status": "FRESH", "causes": []}
    [positive] = revenue["definition"]["assetChecks"]
    assert positive["latestExecution"]["runId"] == run_id
    assert positive["latestExecution"]["passed"] and positive["latestExecution"]["metadata"] == {
        "total": 100
    }


def test_a_multi_asset_subset(platform: Platform) -> None:
    platform.ensure(["raw/orders"])
    regions_before = platform.asset("regions")["latestMaterialization"]
    run_id = platform.launch_run({"jobName": "__ASSET_JOB", "assetSelection": [key("customers")]})
    run = platform.finish(run_id)
    assert run["jobName"] == "__ASSET_JOB[customers]"
    assert platform.steps_started(run_id) == ["split"]
    assert platform.asset("customers")["latestMaterialization"]["runId"] == run_id
    assert platform.asset("regions")["latestMaterialization"] == regions_before
    materialized = [
        e["data"]["asset_key"]
        for e in platform.events(run_id)
        if e["eventType"] == "ASSET_MATERIALIZATION"
    ]
    assert materialized == [["customers"]]


def test_a_graph_asset(platform: Platform) -> None:
    platform.ensure(["raw/orders", "revenue"])
    run_id = platform.launch_assets(["doubled_revenue"])
    platform.finish(run_id)
    doubled = platform.asset("doubled_revenue")
    assert doubled["latestMaterialization"]["runId"] == run_id
    assert doubled["definition"]["dependencyKeys"] == [key("revenue")]
    assert doubled["definition"]["staleness"]["status"] == "FRESH"
    # Its op ran as a step of its own on the worker.
    assert platform.steps_started(run_id) == ["doubled_revenue.double"]


def test_a_materialize_result_asset(platform: Platform, tmp_path: Path) -> None:
    platform.ensure(["raw/orders", "revenue"])
    written = tmp_path / "report.json"
    run_id = platform.launch_assets(["report"], {"test/report": str(written)})
    platform.finish(run_id)
    assert json.loads(written.read_text()) == {"done": True}
    report = platform.asset("report")
    assert report["latestMaterialization"]["runId"] == run_id
    assert report["latestMaterialization"]["stepKey"] == "report"
    assert report["latestMaterialization"]["metadata"]["path"] == {
        "type": "path",
        "value": str(written),
    }
    assert report["definition"]["staleness"]["status"] == "FRESH"


def test_the_whole_asset_job(platform: Platform, tmp_path: Path) -> None:
    written = tmp_path / "report.json"
    run_id = platform.launch_run({"jobName": "__ASSET_JOB"}, {"test/report": str(written)})
    run = platform.finish(run_id)
    assert run["jobName"] == "__ASSET_JOB"
    assert written.exists()
    for text in ("raw/orders", "revenue", "customers", "regions", "doubled_revenue", "report"):
        asset = platform.asset(text)
        assert asset["latestMaterialization"]["runId"] == run_id, text
        assert asset["definition"]["staleness"] == {"status": "FRESH", "causes": []}, text
    checks = {
        c["name"]: c["latestExecution"]["runId"]
        for text in ("raw/orders", "revenue")
        for c in platform.asset(text)["definition"]["assetChecks"]
    }
    assert checks == {"orders_not_empty": run_id, "positive": run_id}

    # revenue again (no code version: a new data version each time) makes what reads it
    # stale; raw/orders again (same code version, same inputs: the same data version)
    # leaves revenue fresh. The versions were recorded by steps in the worker's pool.
    platform.finish(platform.launch_assets(["revenue"]))
    platform.finish(platform.launch_assets(["raw/orders"]))
    stale = {"status": "STALE", "causes": ["upstream revenue has a new data version"]}
    for text in ("doubled_revenue", "report"):
        assert platform.asset(text)["definition"]["staleness"] == stale, text
    for text in ("raw/orders", "revenue", "customers", "regions"):
        assert platform.asset(text)["definition"]["staleness"]["status"] == "FRESH", text


def test_a_defined_asset_job(platform: Platform) -> None:
    platform.ensure(["raw/orders"])
    run_id = platform.launch_run({"jobName": "marts_job"})
    run = platform.finish(run_id)
    assert run["jobName"] == "marts_job"
    assert platform.steps_started(run_id) == [
        "doubled_revenue.double",
        "revenue",
        "split",
    ]
    for text in ("revenue", "customers", "regions", "doubled_revenue"):
        assert platform.asset(text)["latestMaterialization"]["runId"] == run_id, text
    assert platform.asset("raw/orders")["latestMaterialization"]["runId"] != run_id


def test_reexecution_from_failure(platform: Platform, tmp_path: Path) -> None:
    report_before = platform.asset("report")["latestMaterialization"]
    broken = tmp_path / "broken"
    broken.write_text("yes")
    parent = platform.launch_assets(
        ["raw/orders", "revenue", "report"], {"test/report_broken": str(broken)}
    )
    failed = platform.finish(parent, expected="FAILURE")
    steps = {s["stepKey"]: s["status"] for s in failed["stepStats"]}
    assert steps["report"] == "FAILURE" and steps["revenue"] == "SUCCESS", steps
    assert platform.asset("report")["latestMaterialization"] == report_before
    broken.unlink()
    child = platform.gql(REEXECUTE, {"parent": parent})["launchRunReexecution"]
    assert child["__typename"] == "LaunchRunSuccess", child
    child_id = child["run"]["runId"]
    assert child["run"]["parentRunId"] == parent
    platform.finish(child_id)  # on the Celery workers: the parent's run config
    assert platform.steps_started(child_id) == ["report"]  # the rest is reused
    assert platform.asset("report")["latestMaterialization"]["runId"] == child_id
    assert platform.asset("revenue")["latestMaterialization"]["runId"] == parent
    assert platform.asset("raw/orders")["latestMaterialization"]["runId"] == parent
