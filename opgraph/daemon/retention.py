"""Retention: purge ticks, finished runs (with their events) and stale heartbeats past
their age.

`retention.ticks.purge_after_days` (default 30), `retention.runs.purge_after_days`
(default: keep) and `retention.heartbeats.purge_after_days` (default 1: a Celery worker
that stopped or died leaves its row, and every run worker's executor reads them all).
Runs go in batches, so one tick never holds a long transaction.
"""

from __future__ import annotations

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import RetentionConfig

DAY_SECONDS = 86400.0
RUN_BATCH = 500
MAX_RUN_BATCHES_PER_TICK = 20


class Retention(DaemonPart):
    name = "RETENTION"

    def __init__(
        self, instance: OpgraphInstance, config: RetentionConfig, interval_seconds: float = 3600.0
    ):
        self.instance = instance
        self.config = config
        self.interval_seconds = interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        storage = self.instance.storage
        tick_days = self.config.ticks.purge_after_days
        if tick_days is not None:
            report.info["ticks_purged"] = storage.purge_ticks(now - tick_days * DAY_SECONDS)
        beat_days = self.config.heartbeats.purge_after_days
        if beat_days is not None:
            report.info["heartbeats_purged"] = storage.purge_daemon_heartbeats(
                now - beat_days * DAY_SECONDS
            )
        run_days = self.config.runs.purge_after_days
        if run_days is not None:
            purged = 0
            for _ in range(MAX_RUN_BATCHES_PER_TICK):
                batch = storage.purge_runs(now - run_days * DAY_SECONDS, RUN_BATCH)
                purged += batch
                if batch < RUN_BATCH:
                    break
            report.info["runs_purged"] = purged
        return report
