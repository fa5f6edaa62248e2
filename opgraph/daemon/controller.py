"""The daemon's controller: one active daemon behind a lease, its parts in threads.

Every daemon process tries the lease (a row in storage, see `Storage.acquire_lease`).
The one that holds it runs each part in its own thread (tick, heartbeat, wait) and
renews the lease every quarter of `daemon.lease_seconds`; the others wait as hot
standbys (code locations loaded, connections open) and try again every second. When the
active daemon dies, even by kill -9, its lease runs out and a standby takes over within
`lease_seconds` + 1 s; on a clean stop it releases the lease and the standby takes over
at its next try. A daemon that cannot renew stops its parts before its lease could have
run out, so two daemons are never active at once (given clocks kept in step by NTP).

Every second the active daemon looks at its parts (supervision.py): a part whose thread
died is restarted; one that dies too often, or is stuck (silent 10 minutes past its
interval), makes the daemon release its lease and `run` raise `DaemonPartFailure` (the CLI
exits 1), so the standby takes over within a second instead of a dead part going unseen.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from opgraph import plugins
from opgraph.daemon.monitoring import RunMonitor
from opgraph.daemon.part import Clock, DaemonPart
from opgraph.daemon.remote_steps import PluginStepTerminators
from opgraph.daemon.retention import Retention
from opgraph.daemon.run_queue import RunQueue
from opgraph.daemon.run_retries import RunRetries
from opgraph.daemon.scheduler import Scheduler
from opgraph.daemon.sensors import SensorDaemon
from opgraph.daemon.supervision import STUCK_AFTER_SECONDS, PartRunner
from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.ports import StepTerminator
from opgraph.workspace.base import Workspace
from opgraph_storage.records import DaemonHeartbeat, DaemonLease

log = logging.getLogger("opgraph.daemon")

LEASE_NAME = "daemon"
DAEMON_HEARTBEAT = "DAEMON"  # the active daemon itself (lease, host)
STANDBY_HEARTBEAT = "DAEMON_STANDBY"
STANDBY_POLL_SECONDS = 1.0
PART_JOIN_SECONDS = 30.0
PART_CHECK_SECONDS = 1.0  # how soon a dead part thread is restarted


class DaemonPartFailure(OpgraphError):
    """A part died too often or is stuck: the daemon released its lease and stops."""


def new_daemon_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_parts(
    instance: OpgraphInstance,
    workspace: Workspace | None,
    daemon_id: str,
    terminator: StepTerminator | None = None,
) -> list[DaemonPart]:
    """Every part, configured from instance.yaml, then the parts plugins add
    (`opgraph.daemon_parts`). Without a workspace there are no schedules or sensors to run
    (e.g. a daemon for the run queue only). Run monitoring stops remote steps through
    `terminator`, by default every installed `opgraph.step_terminators` plugin."""
    config = instance.config
    daemon = config.daemon
    monitoring = config.run_monitoring
    parts: list[DaemonPart] = []
    if workspace is not None:
        parts.append(
            Scheduler(
                instance, workspace, daemon.max_catchup_runs, daemon.scheduler_interval_seconds
            )
        )
        parts.append(SensorDaemon(instance, workspace, daemon.sensor_interval_seconds))
        # Backfills make runs through the code locations (a partition's run config).
        # Imported here: opgraph.partitions.backfill imports this package's parts.
        from opgraph.partitions.backfill import BackfillDaemon

        parts.append(BackfillDaemon(instance, workspace))
        automation = config.auto_materialize
        if automation.enabled:
            from opgraph.automation.daemon import AutomationDaemon

            parts.append(
                AutomationDaemon(
                    instance,
                    workspace,
                    automation.minimum_interval_seconds,
                    automation.run_tags,
                    automation.purge_after_days,
                )
            )
    parts.append(RunQueue(instance, daemon_id))
    if terminator is None:
        terminator = PluginStepTerminators(instance)
    parts.append(RunMonitor(instance, monitoring, terminator))
    parts.append(RunRetries(instance, config.run_retries))
    parts.append(Retention(instance, config.retention, daemon.retention_interval_seconds))
    for name, build in plugins.load_all(plugins.DAEMON_PARTS).items():
        part = build(instance)
        if part is not None and not isinstance(part, DaemonPart):
            raise plugins.PluginError(
                f"{plugins.DAEMON_PARTS} plugin {name!r} built a {type(part).__name__}, "
                "expected an opgraph.daemon.DaemonPart or None"
            )
        if part is not None:
            parts.append(part)
    return parts


class Daemon:
    def __init__(
        self,
        instance: OpgraphInstance,
        parts: Sequence[DaemonPart],
        daemon_id: str | None = None,
        clock: Clock = time.time,
        lease_seconds: float | None = None,
        grace_seconds: float | None = None,
        stuck_after_seconds: float = STUCK_AFTER_SECONDS,
    ):
        self.instance = instance
        self.parts = list(parts)
        self.daemon_id = daemon_id or new_daemon_id()
        self.clock = clock
        self.lease_seconds = lease_seconds or instance.config.daemon.lease_seconds
        self.host = socket.gethostname()
        self.lease: DaemonLease | None = None
        self.active = threading.Event()  # set while this daemon's parts run
        self.grace_seconds = (
            instance.config.liveness.grace_seconds if grace_seconds is None else grace_seconds
        )
        self.stuck_after_seconds = stuck_after_seconds
        self.failure: str | None = None  # why it gave up its lease, if it did

    # -- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: standby, or active while the lease is ours."""
        try:
            while not stop.is_set():
                lease = self._try_acquire()
                if lease is None:
                    self._heartbeat(STANDBY_HEARTBEAT, {"state": "standby"})
                    stop.wait(STANDBY_POLL_SECONDS)
                    continue
                self._run_active(lease, stop)
                if self.failure is not None:
                    break
        finally:
            if self.lease is not None:
                try:
                    self.instance.storage.release_lease(LEASE_NAME, self.daemon_id, self.clock())
                except Exception as exc:
                    log.warning("could not release the daemon lease: %s", exc)
                self.lease = None
            for part in self.parts:
                part.close()
        if self.failure is not None:
            raise DaemonPartFailure(
                f"daemon {self.daemon_id} stopped: {self.failure}. It gave up its lease so "
                "that a standby takes over; restart it (a process supervisor does) once the "
                "cause in its log is fixed."
            )

    def _acquire(self) -> DaemonLease | None:
        """The lease if it is ours now; None if another daemon has it. Raises when the
        storage does not answer (then nobody can tell who is active)."""
        self.lease = self.instance.storage.acquire_lease(
            LEASE_NAME, self.daemon_id, self.host, os.getpid(), self.clock(), self.lease_seconds
        )
        return self.lease

    def _try_acquire(self) -> DaemonLease | None:
        try:
            return self._acquire()
        except Exception as exc:
            log.warning("cannot reach storage for the daemon lease: %s", exc)
            self.lease = None
            return None

    def _run_active(self, lease: DaemonLease, stop: threading.Event) -> None:
        log.info("daemon %s is active (lease generation %d)", self.daemon_id, lease.generation)
        self._heartbeat(DAEMON_HEARTBEAT, self._lease_info(lease))
        halt = threading.Event()
        runners = [
            PartRunner(
                part, self._heartbeat, self.clock, self.grace_seconds, self.stuck_after_seconds
            )
            for part in self.parts
        ]
        self.active.set()
        for runner in runners:
            runner.start(halt)
        renew_every = self.lease_seconds / 4
        check_every = min(renew_every, PART_CHECK_SECONDS)
        expires_at = lease.expires_at
        next_renewal = time.monotonic() + renew_every
        try:
            while not stop.wait(check_every):
                failure = self._check_parts(runners, halt)
                if failure is not None:
                    log.error("daemon %s gives up its lease: %s", self.daemon_id, failure)
                    self.failure = failure
                    self._heartbeat(DAEMON_HEARTBEAT, {"state": "failed", "errors": [failure]})
                    break
                if time.monotonic() < next_renewal:
                    continue
                next_renewal = time.monotonic() + renew_every
                try:
                    renewed = self._acquire()
                except Exception as exc:
                    log.warning("daemon %s cannot renew its lease: %s", self.daemon_id, exc)
                    # Unknown whether it is still ours: stop before it could have run out.
                    if self.clock() >= expires_at - renew_every:
                        break
                    continue
                if renewed is None:
                    log.warning("daemon %s lost its lease to another daemon", self.daemon_id)
                    break
                expires_at = renewed.expires_at
                self._heartbeat(DAEMON_HEARTBEAT, self._lease_info(renewed))
        finally:
            halt.set()
            self.active.clear()
            for runner in runners:
                runner.join(PART_JOIN_SECONDS)
            log.info("daemon %s stopped its parts", self.daemon_id)

    def _check_parts(self, runners: list[PartRunner], halt: threading.Event) -> str | None:
        """Restart parts whose thread died; why the daemon must give up, or None."""
        for runner in runners:
            failure = runner.check(halt)
            if failure is not None:
                return failure
        return None

    def _lease_info(self, lease: DaemonLease) -> dict[str, Any]:
        return {
            "state": "active",
            "lease_generation": lease.generation,
            "active_since": lease.acquired_at,
            "lease_expires_at": lease.expires_at,
            "parts": [part.name for part in self.parts],
        }

    def _heartbeat(self, daemon_type: str, info: dict[str, Any]) -> None:
        info = {"host": self.host, "pid": os.getpid(), **info}
        try:
            self.instance.storage.add_daemon_heartbeat(
                DaemonHeartbeat(daemon_type, self.daemon_id, self.clock(), info)
            )
        except Exception as exc:
            log.warning("could not write the %s heartbeat: %s", daemon_type, exc)
