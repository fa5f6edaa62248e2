"""Which RUN_* event moves a run to which status, and from which statuses it may."""

from __future__ import annotations

from opgraph_storage.records import RunStatus

S = RunStatus

# event type -> (new status, statuses it may move from)
RUN_EVENT_TRANSITIONS: dict[str, tuple[RunStatus, frozenset[RunStatus]]] = {
    "RUN_ENQUEUED": (S.QUEUED, frozenset({S.NOT_STARTED})),
    "RUN_STARTING": (S.STARTING, frozenset({S.NOT_STARTED, S.QUEUED})),
    "RUN_START": (S.STARTED, frozenset({S.NOT_STARTED, S.QUEUED, S.STARTING})),
    "RUN_SUCCESS": (S.SUCCESS, frozenset({S.STARTED, S.CANCELING})),
    "RUN_FAILURE": (
        S.FAILURE,
        frozenset({S.NOT_STARTED, S.QUEUED, S.STARTING, S.STARTED, S.CANCELING}),
    ),
    "RUN_CANCELING": (S.CANCELING, frozenset({S.NOT_STARTED, S.QUEUED, S.STARTING, S.STARTED})),
    "RUN_CANCELED": (
        S.CANCELED,
        frozenset({S.NOT_STARTED, S.QUEUED, S.STARTING, S.STARTED, S.CANCELING}),
    ),
}
