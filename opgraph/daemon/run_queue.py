"""The run queue: launch QUEUED runs within `max_concurrent_runs` and tag limits, the
highest `opgraph/priority` first (then oldest first).

Runs are claimed in storage (see `Storage.claim_queued_runs`: dequeuers take turns, so
limits hold even with two of them) and then handed to the run launcher, whose own
compare-and-set (QUEUED -> STARTING) means a run is never launched twice. A launch that
raises fails that run with the reason; the queue goes on with the next one.

On PostgreSQL the part wakes on NOTIFY when a run is queued or one finishes, so a
queued run starts within milliseconds; `dequeue_interval_seconds` is only the fallback.
"""

from __future__ import annotations

import threading
import traceback
from collections import Counter
from collections.abc import Sequence

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import TagConcurrencyLimit
from opgraph.ports import QueueLimits
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import RunRecord, RunStatus

PRIORITY_TAG = "opgraph/priority"
CLAIM_TTL_SECONDS = 120.0  # a launch takes milliseconds; a claim this old is a dead daemon's
MAX_WAIT_SLICE_SECONDS = 0.5  # how soon a waiting queue notices it should stop


def priority(run: RunRecord) -> int:
    try:
        return int(run.tags.get(PRIORITY_TAG, "0"))
    except ValueError:
        return 0  # `bad_priorities` reports it


def bad_priorities(runs: Sequence[RunRecord]) -> list[str]:
    bad = []
    for run in runs:
        value = run.tags.get(PRIORITY_TAG)
        if value is not None and not value.lstrip("-").isdigit():
            bad.append(
                f"run {run.run_id}: tag {PRIORITY_TAG}={value!r} is not an integer "
                "(e.g. 10 or -5); it is queued with priority 0"
            )
    return bad


def _bucket(limit: TagConcurrencyLimit, run: RunRecord) -> str | None:
    """Which count of `limit` the run falls in (None: the limit does not apply to it):
    one count for all values, or one per value with `per_value`."""
    value = run.tags.get(limit.key)
    if value is None or (limit.value is not None and value != limit.value):
        return None
    return value if limit.per_value else ""


def select_runs(
    queued: Sequence[RunRecord], in_progress: Sequence[RunRecord], limits: QueueLimits
) -> list[str]:
    """The queued runs to launch now, in launch order. A run held back by a tag limit
    does not hold back the runs after it; the overall limit stops the selection."""
    if limits.max_concurrent_runs == 0:
        return []
    position = {run.run_id: index for index, run in enumerate(queued)}
    ordered = sorted(queued, key=lambda run: (-priority(run), position[run.run_id]))
    tag_limits = limits.tag_concurrency_limits
    used: Counter[tuple[int, str]] = Counter()
    for run in in_progress:
        for index, limit in enumerate(tag_limits):
            bucket = _bucket(limit, run)
            if bucket is not None:
                used[index, bucket] += 1
    total = len(in_progress)
    chosen: list[str] = []
    for run in ordered:
        if limits.max_concurrent_runs != -1 and total >= limits.max_concurrent_runs:
            break
        buckets = [
            (index, bucket)
            for index, limit in enumerate(tag_limits)
            if (bucket := _bucket(limit, run)) is not None
        ]
        if any(used[key] >= tag_limits[key[0]].limit for key in buckets):
            continue
        used.update(buckets)
        total += 1
        chosen.append(run.run_id)
    return chosen


class RunQueue(DaemonPart):
    name = "RUN_QUEUE"

    def __init__(self, instance: OpgraphInstance, daemon_id: str):
        self.instance = instance
        self.daemon_id = daemon_id
        self.limits = instance.run_coordinator.queue_limits()
        if self.limits is not None:
            self.interval_seconds = self.limits.dequeue_interval_seconds

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        if self.limits is None:
            report.info["coordinator"] = "not queued: runs launch when submitted"
            return report
        limits = self.limits
        problems: list[str] = []

        def choose(queued: list[RunRecord], in_progress: list[RunRecord]) -> list[str]:
            problems.extend(bad_priorities(queued))
            report.info.update(queued=len(queued), in_progress=len(in_progress))
            return select_runs(queued, in_progress, limits)

        storage = self.instance.storage
        claimed = storage.claim_queued_runs(self.daemon_id, now, choose, CLAIM_TTL_SECONDS)
        report.errors.extend(problems[:10])
        try:
            for run in claimed:
                self._launch(run, report)
        finally:
            # In one statement: a launched run's claim holds nothing back (it is no longer
            # QUEUED), so releasing each as it went cost a round trip a run for nothing.
            storage.release_run_claims([run.run_id for run in claimed])
        return report

    def _launch(self, run: RunRecord, report: TickReport) -> None:
        try:
            self.instance.launch_run(run.run_id, run)
        except Exception as exc:
            current = self.instance.storage.get_run(run.run_id)
            if current is None or current.status not in (RunStatus.QUEUED, RunStatus.STARTING):
                return  # canceled meanwhile: the launcher refused, rightly
            failed = append_lifecycle_event(
                self.instance,
                run.run_id,
                EventType.RUN_FAILURE,
                f"The daemon could not launch the run: {type(exc).__name__}: {exc}",
                only_from=(RunStatus.QUEUED, RunStatus.STARTING),
                error={
                    "class": type(exc).__name__,
                    "message": str(exc),
                    "traceback": traceback.format_exc(),
                },
            )
            if failed:
                report.count("launch_failures")
                report.errors.append(f"run {run.run_id}: launch failed: {exc}")
            return
        report.count("launched")

    def wait(self, timeout: float, halt: threading.Event) -> None:
        """Until a run is queued or finishes (NOTIFY on PostgreSQL), or `timeout`."""
        storage = self.instance.storage
        remaining = timeout
        while remaining > 0 and not halt.is_set():
            slice_ = min(remaining, MAX_WAIT_SLICE_SECONDS)
            if storage.wait_for_run_queue_change(slice_):
                return
            remaining -= slice_
