"""Event types: the log of a run is the truth every view derives its state from."""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from opgraph_storage.records import EventRecord


class EventType(str, Enum):
    RUN_ENQUEUED = "RUN_ENQUEUED"
    RUN_STARTING = "RUN_STARTING"
    RUN_START = "RUN_START"
    RUN_SUCCESS = "RUN_SUCCESS"
    RUN_FAILURE = "RUN_FAILURE"
    RUN_CANCELING = "RUN_CANCELING"
    RUN_CANCELED = "RUN_CANCELED"
    STEP_START = "STEP_START"
    STEP_INPUT = "STEP_INPUT"
    STEP_OUTPUT = "STEP_OUTPUT"
    HANDLED_OUTPUT = "HANDLED_OUTPUT"
    LOADED_INPUT = "LOADED_INPUT"
    STEP_SUCCESS = "STEP_SUCCESS"
    STEP_FAILURE = "STEP_FAILURE"
    STEP_UP_FOR_RETRY = "STEP_UP_FOR_RETRY"
    STEP_RESTARTED = "STEP_RESTARTED"
    STEP_SKIPPED = "STEP_SKIPPED"
    LOGS_CAPTURED = "LOGS_CAPTURED"
    LOG = "LOG"
    ENGINE_EVENT = "ENGINE_EVENT"
    ASSET_MATERIALIZATION = "ASSET_MATERIALIZATION"
    ASSET_OBSERVATION = "ASSET_OBSERVATION"
    ASSET_CHECK_EVALUATION = "ASSET_CHECK_EVALUATION"


# The events that begin a step attempt (a first start or a retry). EventType is a str
# enum, so the set matches both members and their stored text.
STEP_START_EVENTS = frozenset({EventType.STEP_START, EventType.STEP_RESTARTED})


def make_event(
    run_id: str,
    event_type: EventType,
    *,
    step_key: str | None = None,
    attempt: int | None = None,
    message: str = "",
    level: str = "INFO",
    data: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> EventRecord:
    return EventRecord(
        run_id=run_id,
        event_type=event_type.value,
        timestamp=time.time() if timestamp is None else timestamp,
        step_key=step_key,
        attempt=attempt,
        level=level,
        message=message,
        data=data or {},
    )


class RunEvent:
    """Dagster-style view of a stored event (`event_type_value`, `step_key`, ...)."""

    __slots__ = ("record",)

    def __init__(self, record: EventRecord):
        self.record = record

    @property
    def event_type_value(self) -> str:
        return self.record.event_type

    @property
    def event_type(self) -> EventType:
        return EventType(self.record.event_type)

    @property
    def step_key(self) -> str | None:
        return self.record.step_key

    @property
    def message(self) -> str:
        return self.record.message

    @property
    def is_step_success(self) -> bool:
        return self.record.event_type == EventType.STEP_SUCCESS.value

    @property
    def is_step_failure(self) -> bool:
        return self.record.event_type == EventType.STEP_FAILURE.value

    @property
    def is_failure(self) -> bool:
        return self.record.event_type in (EventType.STEP_FAILURE.value, EventType.RUN_FAILURE.value)

    @property
    def is_successful_output(self) -> bool:
        return self.record.event_type == EventType.STEP_OUTPUT.value

    def __repr__(self) -> str:
        return f"RunEvent({self.event_type_value}, step_key={self.step_key!r})"
