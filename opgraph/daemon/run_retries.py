"""Run retries: a FAILURE run with retries left is re-executed from failure.

The limit is the run's `opgraph/max_retries` tag, else `run_retries.max_retries`. Each
retry is a child run (parent and root recorded, as any re-execution) tagged with its
number in `opgraph/retry_number`; its run key `<root>/retry/<n>` makes a second retry
of the same failure impossible, even after a crash or with two daemons.

Failures are read in the order they ended, from a watermark kept in the key-value
storage; a window of WATERMARK_OVERLAP_SECONDS is read again each time, because a run's
end time is set by its worker and may be committed a little after a later one's.
"""

from __future__ import annotations

import json

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import RunRetriesConfig
from opgraph.reexecution import PARENT_RUN_ID_TAG, create_reexecution_run
from opgraph_storage.base import DuplicateRunKey
from opgraph_storage.records import RunRecord, RunsFilter, RunStatus

MAX_RETRIES_TAG = "opgraph/max_retries"
RETRY_NUMBER_TAG = "opgraph/retry_number"
WATERMARK_KEY = "opgraph/daemon/run_retries/watermark"
WATERMARK_OVERLAP_SECONDS = 60.0
BATCH = 500


class RunRetries(DaemonPart):
    name = "RUN_RETRIES"

    def __init__(
        self, instance: OpgraphInstance, config: RunRetriesConfig, interval_seconds: float = 5.0
    ):
        self.instance = instance
        self.config = config
        self.interval_seconds = interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        if not self.config.enabled:
            report.info["enabled"] = False
            return report
        storage = self.instance.storage
        raw = storage.kv_get(WATERMARK_KEY)
        if raw is None:  # first tick ever: failures from before retries existed stay failed
            storage.kv_set(WATERMARK_KEY, json.dumps(now))
            return report
        watermark = float(json.loads(raw))
        after = watermark - WATERMARK_OVERLAP_SECONDS
        while True:
            failed = storage.get_finished_runs([RunStatus.FAILURE], after, BATCH)
            for run in failed:
                try:
                    self._maybe_retry(run, report)
                except Exception as exc:
                    report.errors.append(f"run {run.run_id}: {type(exc).__name__}: {exc}")
            if failed:
                watermark = max(watermark, failed[-1].ended_at or watermark)
                after = failed[-1].ended_at or after
            if len(failed) < BATCH:
                break
        storage.kv_set(WATERMARK_KEY, json.dumps(watermark))
        return report

    def _max_retries(self, run: RunRecord, report: TickReport) -> int:
        value = run.tags.get(MAX_RETRIES_TAG)
        if value is None:
            return self.config.max_retries
        if not value.isdigit():
            report.errors.append(
                f"run {run.run_id}: tag {MAX_RETRIES_TAG}={value!r} is not a whole number "
                "of retries (e.g. 3); it is not retried"
            )
            return 0
        return int(value)

    def _maybe_retry(self, run: RunRecord, report: TickReport) -> None:
        done = int(run.tags.get(RETRY_NUMBER_TAG, "0") or 0)
        limit = self._max_retries(run, report)
        if done >= limit:
            return
        number = done + 1
        root = run.root_run_id or run.run_id
        try:
            child = create_reexecution_run(
                self.instance,
                run.run_id,
                "FROM_FAILURE",
                tags={RETRY_NUMBER_TAG: str(number), MAX_RETRIES_TAG: str(limit)},
                run_key=f"{root}/retry/{number}",
            )
        except DuplicateRunKey:
            # Retried already; submit the child if a crash came between creating it and that.
            tags = {PARENT_RUN_ID_TAG: run.run_id, RETRY_NUMBER_TAG: str(number)}
            for child in self.instance.storage.get_runs(RunsFilter(tags=tags)):
                if child.status is RunStatus.NOT_STARTED:
                    self.instance.submit_run(child.run_id)
            return
        except OpgraphError as exc:
            report.errors.append(f"run {run.run_id}: cannot retry: {exc}")
            return
        self.instance.submit_run(child.run_id)
        report.count("retried")
