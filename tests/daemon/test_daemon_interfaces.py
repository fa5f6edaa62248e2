"""GraphQL (schedules, sensors, ticks, mutations, dry runs, daemonHealth) and the CLI
(`schedules`, `sensors`, `daemon status`) over the same state the daemon uses."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from daemon_env import DaemonEnv, MakeEnv

from opgraph.daemon import Daemon, DaemonPart, TickReport
from opgraph.daemon.run_queue import RunQueue
from opgraph.daemon.scheduler import Scheduler
from opgraph.daemon.sensors import SensorDaemon
from opgraph_app import create_app
from opgraph_celery.fleet import HEARTBEAT_PREFIX
from opgraph_storage.records import DaemonHeartbeat

SCHEDULES = """{ schedulesOrError { __typename ... on Schedules { results {
  name status cronSchedule executionTimezone nextTickTimestamps(limit: 2)
  ticks(limit: 3) { status runIds skipReason error } } } } }"""
SENSOR = """query($name: String!) { sensorOrError(name: $name) { __typename
  ... on Sensor { name status cursor ticks { status runIds cursor skipReason } }
  ... on InstigatorNotFoundError { message name } } }"""
START = """mutation($name: String!) { startSchedule(name: $name) { __typename
  ... on Schedule { name status } ... on Error { message } } }"""
START_SENSOR = """mutation($name: String!) { startSensor(name: $name) { __typename
  ... on Sensor { status } ... on Error { message } } }"""
RESET = """mutation($name: String!, $cursor: String) { resetSensorCursor(name: $name,
  cursor: $cursor) { __typename ... on Sensor { cursor } } }"""
SCHEDULE_DRY_RUN = """mutation($name: String!, $t: Float) { scheduleDryRun(name: $name,
  timestamp: $t) { __typename ... on DryRun { runRequests { runConfig tags jobName }
  skipReason error } ... on Error { message } } }"""
SENSOR_DRY_RUN = """mutation($name: String!) { sensorDryRun(name: $name) { __typename
  ... on DryRun { runRequests { runKey tags } cursor skipReason error } } }"""
HEALTH = """{ instance { daemonHealth { allDaemonStatuses { daemonType id healthy
  lastHeartbeatErrors } } } }"""


def gql(env: DaemonEnv, query: str, app: Any = None, **variables: Any) -> dict[str, Any]:
    """`app`: one made before a daemon's threads start (see the daemon health test)."""
    app = app or create_app(env.instance, env.workspace)
    answer = app.test_client().post("/graphql", json={"query": query, "variables": variables})
    body = answer.get_json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def test_schedules_start_ticks_and_dry_run_in_graphql(env: DaemonEnv) -> None:
    started = gql(env, START, name="hourly")["startSchedule"]
    assert started == {"__typename": "Schedule", "name": "loc:hourly", "status": "RUNNING"}
    missing = gql(env, START, name="nope")["startSchedule"]
    assert missing["__typename"] == "InstigatorNotFoundError"
    assert "no schedule named 'nope'" in missing["message"] and "loc:hourly" in missing["message"]
    Scheduler(env.instance, env.workspace).tick(time.time() + 3600)
    schedules = gql(env, SCHEDULES)["schedulesOrError"]["results"]
    hourly = next(s for s in schedules if s["name"] == "loc:hourly")
    assert hourly["status"] == "RUNNING" and hourly["cronSchedule"] == "0 * * * *"
    assert hourly["executionTimezone"] == "UTC"
    first, second = hourly["nextTickTimestamps"]
    assert second - first == 3600 and first > time.time()
    [tick] = hourly["ticks"]
    assert tick["status"] == "SUCCESS" and len(tick["runIds"]) == 1
    berlin = next(s for s in schedules if s["name"] == "loc:berlin_morning")
    assert berlin["status"] == "STOPPED" and berlin["executionTimezone"] == "Europe/Berlin"
    dry = gql(env, SCHEDULE_DRY_RUN, name="berlin_morning", t=1767600000.0)["scheduleDryRun"]
    assert dry["runRequests"] == [
        {"runConfig": {"ops": {"load": {"config": {"rows": 9}}}}, "tags": {}, "jobName": None}
    ]
    broken = gql(env, SCHEDULE_DRY_RUN, name="broken")["scheduleDryRun"]
    assert "ValueError: the schedule function is broken" in broken["error"]
    assert env.instance.storage.get_ticks("loc:broken") == []  # a dry run stores nothing


def test_sensors_cursor_and_dry_run_in_graphql(env: DaemonEnv) -> None:
    (env.files / "a.csv").touch()
    assert gql(env, START_SENSOR, name="new_files")["startSensor"]["status"] == "RUNNING"
    dry = gql(env, SENSOR_DRY_RUN, name="new_files")["sensorDryRun"]
    assert dry == {
        "__typename": "DryRun",
        "runRequests": [{"runKey": "a.csv", "tags": {"file": "a.csv"}}],
        "cursor": "a.csv",
        "skipReason": None,
        "error": None,
    }
    SensorDaemon(env.instance, env.workspace).tick(time.time())
    sensor = gql(env, SENSOR, name="loc:new_files")["sensorOrError"]
    assert sensor["cursor"] == "a.csv" and sensor["ticks"][0]["status"] == "SUCCESS"
    assert gql(env, RESET, name="new_files", cursor=None)["resetSensorCursor"]["cursor"] is None
    state = env.instance.storage.get_instigator_state("loc:new_files")
    assert state is not None and state.data["cursor"] is None
    assert gql(env, SENSOR, name="x")["sensorOrError"]["__typename"] == "InstigatorNotFoundError"


def test_daemon_health_shows_each_part(env: DaemonEnv) -> None:
    storage = env.instance.storage
    daemon = Daemon(env.instance, [RunQueue(env.instance, "d1")], "host:1:abc")
    lease = storage.acquire_lease("daemon", "host:1:abc", "host", 1, time.time(), 10)
    assert lease is not None
    daemon._heartbeat("RUN_QUEUE", {"errors": []})
    storage.add_daemon_heartbeat(
        DaemonHeartbeat("SCHEDULER", "host:1:abc", time.time(), {"errors": ["schedule x: boom"]})
    )
    statuses = gql(env, HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    by_type = {s["daemonType"]: s for s in statuses}
    assert by_type["RUN_QUEUE"]["healthy"] is True and by_type["RUN_QUEUE"]["id"] == "host:1:abc"
    assert by_type["SCHEDULER"]["healthy"] is False
    assert by_type["SCHEDULER"]["lastHeartbeatErrors"] == ["schedule x: boom"]


def test_a_part_is_late_after_its_own_interval_plus_the_liveness_grace(env: DaemonEnv) -> None:
    storage = env.instance.storage
    assert env.instance.config.liveness.grace_seconds == 60  # 12 beats of 5 s
    then = time.time() - 100
    for part, interval in (("SENSOR", 5), ("RETENTION", 3600)):
        info = {"errors": [], "interval_seconds": interval}
        storage.add_daemon_heartbeat(DaemonHeartbeat(part, "host:1:abc", then, info))
    worker = f"{HEARTBEAT_PREFIX}w1@host"  # a Celery worker's beat: the fleet's, not a part
    storage.add_daemon_heartbeat(DaemonHeartbeat(worker, "w1@host", time.time(), {}))
    statuses = gql(env, HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    by_type = {s["daemonType"]: s for s in statuses}
    assert set(by_type) == {"SENSOR", "RETENTION"}
    assert by_type["SENSOR"]["healthy"] is False  # due every 5 s, silent for 100 s > 65 s
    assert by_type["RETENTION"]["healthy"] is True  # due every hour


STATES = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy state
  staleAfterSeconds consecutiveFailures restarts intervalSeconds } } } }"""


def test_daemon_health_shows_restarts_failures_and_staleness(make_env: MakeEnv) -> None:
    """What a real daemon writes: a part restarted after its thread died, a part in backoff
    after failed ticks, an hourly part, and a part silent past its own deadline."""
    env = make_env(liveness={"heartbeat_interval_seconds": 1, "missed_heartbeats": 10})
    storage = env.instance.storage
    now = time.time()

    class Once(DaemonPart):
        name = "RESTARTED"
        interval_seconds = 0.05
        ticks = 0

        def tick(self, now: float) -> TickReport:
            Once.ticks += 1
            if Once.ticks == 1:
                raise SystemExit("gone")
            return TickReport()

    class Fails(DaemonPart):
        name = "FAILING"
        interval_seconds = 0.05

        def tick(self, now: float) -> TickReport:
            raise ConnectionError("database unreachable")

    hourly = DaemonHeartbeat(
        "RETENTION", "d", now - 600, {"errors": [], "interval_seconds": 3600.0}
    )
    silent = DaemonHeartbeat(
        "SILENT", "d", now - 30, {"errors": [], "interval_seconds": 1.0, "stale_after_seconds": 11}
    )
    storage.add_daemon_heartbeat(hourly)
    storage.add_daemon_heartbeat(silent)
    daemon = Daemon(env.instance, [Once(), Fails()], "d", lease_seconds=2)
    # Made before the daemon's threads start: CPython 3.11.7's ast.parse (Werkzeug's
    # routes here, the traceback carets of a failing part's log there) raises
    # "AST constructor recursion depth mismatch" when two threads parse at once.
    app = create_app(env.instance, env.workspace)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:

        def beats() -> dict[str, Any]:
            health = gql(env, STATES, app)["instance"]["daemonHealth"]
            statuses = health["allDaemonStatuses"]
            return {s["daemonType"]: s for s in statuses}

        deadline = time.monotonic() + 30
        while not (
            beats().get("RESTARTED", {}).get("restarts") == 1
            and beats().get("FAILING", {}).get("consecutiveFailures", 0) >= 2
        ):
            assert time.monotonic() < deadline, beats()
            time.sleep(0.05)
        by_type = beats()
    finally:
        stop.set()
        thread.join(30)
    restarted = by_type["RESTARTED"]
    assert restarted["healthy"] is True and restarted["state"] == "running"
    failing = by_type["FAILING"]
    assert failing["healthy"] is False and failing["state"] == "failing"
    # In backoff: its next beat is due after the longer wait, plus the grace of 10 s.
    assert failing["staleAfterSeconds"] > 10 + Fails.interval_seconds
    assert by_type["RETENTION"]["healthy"] is True  # an hourly part, 10 minutes after a beat
    assert by_type["RETENTION"]["staleAfterSeconds"] == 3600 + 10
    assert by_type["SILENT"]["state"] == "stale" and by_type["SILENT"]["healthy"] is False


def invoke(env: DaemonEnv, *args: str) -> Any:
    app = create_app(env.instance, env.workspace)
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_schedules_and_sensors(env: DaemonEnv) -> None:
    # The CLI loads the workspace itself (code servers); here it is workspace.yaml's one.
    workspace = str(env.home / "workspace.yaml")
    result = invoke(env, "schedules", "start", "hourly", "-w", workspace)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "schedule loc:hourly started"
    listed = invoke(env, "schedules", "list", "-w", workspace, "--json")
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert rows["loc:hourly"]["status"] == "RUNNING"
    assert rows["loc:every_minute"]["status"] == "RUNNING"  # default_status
    assert rows["loc:broken"]["status"] == "STOPPED"
    table = invoke(env, "schedules", "list", "-w", workspace).output
    assert "loc:berlin_morning  STOPPED  0 9 * * *" in table and "Europe/Berlin" in table
    preview = invoke(env, "schedules", "preview", "berlin_morning", "-w", workspace)
    lines = preview.output.strip().splitlines()
    assert lines[0] == "loc:berlin_morning: '0 9 * * *' in Europe/Berlin"
    assert len(lines) == 6 and all(
        "T09:00:00+01:00" in line or "T09:00:00+02:00" in line for line in lines[1:]
    )
    unknown = invoke(env, "schedules", "stop", "nope", "-w", workspace)
    assert unknown.exit_code == 1 and "no schedule named 'nope'" in unknown.output
    assert invoke(env, "sensors", "start", "new_files", "-w", workspace).exit_code == 0
    cursor = invoke(env, "sensors", "cursor", "new_files", "--set", "b.csv", "-w", workspace)
    assert cursor.output.strip() == "loc:new_files: cursor set to b.csv"
    shown = invoke(env, "sensors", "cursor", "new_files", "-w", workspace).output
    assert shown.strip() == "loc:new_files: cursor b.csv"
    both = invoke(env, "sensors", "cursor", "new_files", "--set", "x", "--reset", "-w", workspace)
    assert both.exit_code == 2 and "give --set VALUE or --reset, not both" in both.output
    sensors = invoke(env, "sensors", "list", "-w", workspace).output
    assert "loc:new_files       RUNNING  30s       b.csv" in sensors


def test_cli_daemon_status(env: DaemonEnv) -> None:
    none = invoke(env, "daemon", "status")
    assert none.exit_code == 1 and "No daemon has run yet" in none.output
    storage = env.instance.storage
    storage.acquire_lease("daemon", "web1:42:abc", "web1", 42, time.time(), 10)
    storage.add_daemon_heartbeat(DaemonHeartbeat("RUN_QUEUE", "web1:42:abc", time.time(), {}))
    active = invoke(env, "daemon", "status")
    assert active.exit_code == 0, active.output
    assert "Active daemon: web1:42:abc on web1 (pid 42)" in active.output
    assert "RUN_QUEUE  web1:42:abc" in active.output
    info = invoke(env, "instance", "info")
    assert "Active daemon: web1 (pid 42, id web1:42:abc)" in info.output
    assert "RUN_QUEUE  web1:42:abc" in info.output
    storage.release_lease("daemon", "web1:42:abc", time.time() - 5)
    expired = invoke(env, "daemon", "status", "--json")
    assert expired.exit_code == 1 and json.loads(expired.output)["active"] is False
