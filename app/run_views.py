"""Run and step state derived from the event log (events are the truth), for CLI and UI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from opgraph.events import STEP_START_EVENTS, EventType
from opgraph_storage.records import EventRecord, RunRecord

_RUN_END_EVENTS = {EventType.RUN_SUCCESS, EventType.RUN_FAILURE, EventType.RUN_CANCELED}
_STEP_STATUS = {
    EventType.STEP_START: "STARTED",
    EventType.STEP_RESTARTED: "STARTED",
    EventType.STEP_UP_FOR_RETRY: "UP_FOR_RETRY",
    EventType.STEP_SUCCESS: "SUCCESS",
    EventType.STEP_FAILURE: "FAILURE",
    EventType.STEP_SKIPPED: "SKIPPED",
}
_STEP_ENDS = {EventType.STEP_SUCCESS, EventType.STEP_FAILURE, EventType.STEP_SKIPPED}

# Every event type step_summaries and run_times look at: read only these for a summary
# (`storage.get_events(run_id, event_types=SUMMARY_EVENT_TYPES)`). A run of 1,000,000
# events has about a thousand of them; reading them all took 12 s and 0.9 GB.
SUMMARY_EVENTS = frozenset(
    str(kind.value) for kind in {*_RUN_END_EVENTS, EventType.RUN_START, *_STEP_STATUS}
)
SUMMARY_EVENT_TYPES = sorted(SUMMARY_EVENTS)


@dataclass
class StepSummary:
    step_key: str
    status: str = "PENDING"
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None  # host (or Celery worker) of the latest attempt
    _attempt_ids: set[Any] = field(default_factory=set, repr=False)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_attempt_ids"]
        return data


def _event_type(event: EventRecord) -> EventType | None:
    try:
        return EventType(event.event_type)
    except ValueError:  # a type newer than this code: shown in logs, ignored here
        return None


# Keys of a step start event's data that name where the attempt ran (Celery workers set one).
_WORKER_KEYS = ("worker", "hostname", "host")


def step_summaries(
    events: Iterable[EventRecord], default_worker: str | None = None
) -> list[StepSummary]:
    """One summary per step, in the order steps first appear in the log.

    `default_worker` is where steps ran when their events do not say (the run worker's
    host, for the in-process and multiprocess executors)."""
    steps: dict[str, StepSummary] = {}
    for event in events:
        kind = _event_type(event)
        if event.step_key is None or kind is None:
            continue
        step = steps.setdefault(event.step_key, StepSummary(event.step_key))
        if kind in STEP_START_EVENTS:
            # A redelivered task may log its start twice: count attempts by attempt number.
            step._attempt_ids.add(event.attempt if event.attempt is not None else event.storage_id)
            step.attempts = len(step._attempt_ids)
            named = (event.data.get(key) for key in _WORKER_KEYS)
            step.worker = next((str(w) for w in named if w), default_worker)
            if step.started_at is None:
                step.started_at = event.timestamp
            step.ended_at = None
        if kind in _STEP_ENDS:
            step.ended_at = event.timestamp
        step.status = _STEP_STATUS.get(kind, step.status)
    return list(steps.values())


def run_times(run: RunRecord, events: Iterable[EventRecord]) -> tuple[float | None, float | None]:
    """(started, ended) from RUN_START and the final RUN_* event; the record as fallback."""
    started, ended = run.started_at, run.ended_at
    for event in events:
        kind = _event_type(event)
        if kind is EventType.RUN_START and started is None:
            started = event.timestamp
        elif kind in _RUN_END_EVENTS:
            ended = event.timestamp
    return started, ended


def run_to_json(run: RunRecord) -> dict[str, Any]:
    data = asdict(run)
    data["status"] = run.status.value
    return data


def event_to_json(event: EventRecord) -> dict[str, Any]:
    return asdict(event)
