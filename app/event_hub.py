"""One follower per watched run per process, fanning new events out to every live stream.

Without it each `GET /runs/<id>/events` stream ran its own query after every notification:
500 viewers of one run meant 500 identical queries per event. A follower waits for the
run's events once (LISTEN/NOTIFY on PostgreSQL, polling on SQLite), keeps the newest
`BUFFER_EVENTS` in memory and wakes the streams waiting on it; a stream that is further
behind than the buffer reads its pages from storage itself.

Each event is rendered as its server-sent message once, when the follower buffers it: with
500 viewers, rendering it per stream (dataclass to dict to JSON) was a third of the
worker's CPU per event (31 ms per event fanned out, py-spy), time /health and /graphql
waited behind. A woken stream finds its new events from the buffer's newest end.

The hub also holds the per-process stream cap: `open_stream` refuses past `max_streams`.
Waiting uses `threading`, which the gevent worker turns into greenlets.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from opgraph_storage.base import Storage
from opgraph_storage.records import FINISHED_STATUSES, EventRecord

log = logging.getLogger(__name__)

RUN_END_EVENTS = frozenset({"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"})
BUFFER_EVENTS = 2000  # about 2 MB of records; a busier run's late viewers read storage
FOLLOW_WAIT_SECONDS = 5.0  # a follower re-checks the run's status this often when idle


def sse_message(event: EventRecord) -> str:
    """The server-sent event of one run event: `id:` is its cursor (Last-Event-ID)."""
    data = json.dumps(asdict(event), default=str)
    return f"id: {event.storage_id}\nevent: run_event\ndata: {data}\n\n"


# A buffered event and its rendered message.
Buffered = tuple[EventRecord, str]


class StreamsExhausted(Exception):
    """This process already serves `max_streams` live streams."""


class RunFollower:
    """Follows one run from `start_id` on; `events_after` serves any cursor it covers."""

    def __init__(self, hub: EventHub, run_id: str, start_id: int | None) -> None:
        self._hub = hub
        self.run_id = run_id
        self._cond = threading.Condition()
        self._buffer: deque[Buffered] = deque(maxlen=BUFFER_EVENTS)
        self._covered_from = start_id  # every event after this id is (or was) in the buffer
        self.last_id = start_id
        self.ended = False  # the run has finished and its last event is in the buffer
        self.subscribers = 0
        self._thread = threading.Thread(
            target=self._follow, name=f"opgraph-follow-{run_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def covers(self, cursor: int | None) -> bool:
        with self._cond:
            return self._cursor_covered(cursor)

    def events_after(self, cursor: int | None, timeout: float) -> list[Buffered] | None:
        """Buffered events after `cursor`, waiting up to `timeout` for some; None when the
        buffer does not reach back to `cursor` (read storage instead)."""
        with self._cond:
            if not self._cursor_covered(cursor):
                return None
            if not self._newer(cursor) and not self.ended:
                self._cond.wait(timeout)
            if not self._cursor_covered(cursor):
                return None
            return self._newer(cursor)

    def _cursor_covered(self, cursor: int | None) -> bool:
        if self._covered_from is None:
            return True  # followed from the run's first event, buffer not yet trimmed
        return cursor is not None and cursor >= self._covered_from

    def _newer(self, cursor: int | None) -> list[Buffered]:
        if cursor is None:
            return list(self._buffer)
        if self.last_id is None or self.last_id <= cursor:
            return []
        newer = []  # from the newest end: a stream that keeps up wants one or two events
        for item in reversed(self._buffer):
            if (item[0].storage_id or 0) <= cursor:
                break
            newer.append(item)
        newer.reverse()
        return newer

    def _follow(self) -> None:
        storage = self._hub.storage
        try:
            while not self.ended and self._hub.keep_following(self):
                events = storage.wait_for_events(self.run_id, self.last_id, FOLLOW_WAIT_SECONDS)
                finished = False
                if not events:
                    run = storage.get_run(self.run_id)
                    # Status first, then events: nothing written before the status moved is
                    # missed (the end event is logged just after the compare-and-set).
                    finished = run is None or run.status in FINISHED_STATUSES
                    if finished:
                        events = storage.get_events(self.run_id, after_id=self.last_id)
                self._publish(events, finished)
        except Exception:  # a stream falls back to reading storage; it must not hang
            log.exception("following run %s failed", self.run_id)
            with self._cond:
                self._covered_from = self.last_id = 2**63
                self._cond.notify_all()
        finally:
            self._hub.forget(self)

    def _publish(self, events: list[EventRecord], finished: bool) -> None:
        rendered = [(event, sse_message(event)) for event in events]  # once, for every stream
        with self._cond:
            for item in rendered:
                if len(self._buffer) == self._buffer.maxlen:
                    self._covered_from = self._buffer[0][0].storage_id
                self._buffer.append(item)
            if events:
                self.last_id = events[-1].storage_id
            has_end = any(event.event_type in RUN_END_EVENTS for event in events)
            # A finished run with no end event (deleted, or killed between the status move
            # and its event) ends its streams too.
            self.ended = has_end or (finished and not events)
            self._cond.notify_all()


class EventHub:
    """The followers of one process (one storage)."""

    def __init__(self, storage: Storage, max_streams: int) -> None:
        self.storage = storage
        self.max_streams = max_streams
        self._lock = threading.Lock()
        self._followers: dict[str, RunFollower] = {}
        self.open_streams = 0

    def open_stream(self) -> Callable[[], None]:
        """Count one more live stream; returns its release (safe to call twice).

        StreamsExhausted past the cap."""
        with self._lock:
            if self.open_streams >= self.max_streams:
                raise StreamsExhausted(self.max_streams)
            self.open_streams += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self.open_streams -= 1

        return release

    def has_follower(self, run_id: str) -> bool:
        with self._lock:
            follower = self._followers.get(run_id)
            return follower is not None and not follower.ended

    @contextmanager
    def follow(self, run_id: str, caught_up_at: int | None) -> Iterator[RunFollower]:
        """The run's follower (started at `caught_up_at` if there is none yet)."""
        with self._lock:
            follower = self._followers.get(run_id)
            if follower is None or follower.ended:
                follower = RunFollower(self, run_id, caught_up_at)
                self._followers[run_id] = follower
                follower.start()
            follower.subscribers += 1
        try:
            yield follower
        finally:
            with self._lock:
                follower.subscribers -= 1

    def keep_following(self, follower: RunFollower) -> bool:
        """Whether anyone still reads `follower`; if not, it is forgotten in the same step,
        so no new stream can pick up a follower that is about to stop."""
        with self._lock:
            if follower.subscribers > 0:
                return True
            self._forget_locked(follower)
            return False

    def forget(self, follower: RunFollower) -> None:
        with self._lock:
            self._forget_locked(follower)

    def _forget_locked(self, follower: RunFollower) -> None:
        if self._followers.get(follower.run_id) is follower:
            del self._followers[follower.run_id]
