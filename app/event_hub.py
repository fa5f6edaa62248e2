"""One follower per watched run per process, fanning new events out to every live stream.

Without it each `GET /runs/<id>/events` stream ran its own query after every notification:
500 viewers of one run meant 500 identical queries per event. A follower waits for the
run's events once (LISTEN/NOTIFY on PostgreSQL, polling on SQLite), keeps the newest
`BUFFER_EVENTS` in memory and wakes the streams waiting on it; a stream that is further
behind than the buffer reads its pages from storage itself.

Each event is rendered as its server-sent message once, when the follower buffers it: with
500 viewers, rendering it per stream (dataclass to dict to JSON) was a third of the
worker's CPU per event (31 ms per event fanned out, py-spy), time /health and /graphql
waited behind. The buffer is an immutable snapshot replaced on each publish, so a woken
stream reads it without a lock and finds its new events by bisection; a stream that keeps
up writes the very str object every other stream writes.

Streams wait on one event per wake group, not on a condition each (a lock, a waiter lock
and a re-acquire per stream per event: a fifth of the fan-out's CPU), and a large fan-out
is woken group after group with a timer between groups, so the worker polls its sockets
and a request that arrived goes on after one group's writes rather than after all of them.

The hub also holds the per-process stream cap: `open_stream` refuses past `max_streams`.
Waiting uses `threading`, which the gevent worker turns into greenlets.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import NamedTuple

from opgraph_storage.base import Storage
from opgraph_storage.records import FINISHED_STATUSES, EventRecord

log = logging.getLogger(__name__)

RUN_END_EVENTS = frozenset({"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"})
BUFFER_EVENTS = 2000  # about 1 MB of rendered messages; a busier run's late viewers read storage
FOLLOW_WAIT_SECONDS = 5.0  # a follower re-checks the run's status this often when idle
WAKE_SLOTS = 10  # groups of streams woken one after the other
WAKE_GROUP = 50  # streams woken before the worker polls its sockets again
WAKE_PAUSE_SECONDS = 0.0005  # a timer: pending requests run before the next group


def sse_message(event: EventRecord) -> str:
    """The server-sent event of one run event: `id:` is its cursor (Last-Event-ID)."""
    data = json.dumps(asdict(event), default=str)
    return f"id: {event.storage_id}\nevent: run_event\ndata: {data}\n\n"


# The text of a stream's new events and the cursor after them.
Batch = tuple[str, int | None]


class StreamsExhausted(Exception):
    """This process already serves `max_streams` live streams."""


class _Snapshot(NamedTuple):
    """What a follower has buffered, replaced whole on each publish: a stream reads it
    with no lock (one attribute read), and ids are increasing, so a cursor's newer events
    are found by bisection."""

    covered_from: int | None  # every event after this id is (or was) in the buffer
    last_id: int | None
    ended: bool  # the run has finished and its last event is in the buffer
    ids: tuple[int, ...] = ()
    texts: tuple[str, ...] = ()  # each event's server-sent message, rendered once


class RunFollower:
    """Follows one run from `start_id` on; `events_after` serves any cursor it covers.

    Its streams wait in WAKE_SLOTS groups (a stream's slot is fixed when it subscribes),
    each on one event of the current generation: a publish swaps in new events, then sets
    the old ones group after group, so a waiting stream costs no lock or condition of its
    own, and with many streams the worker polls its sockets between groups (a request
    waits for one group's writes, not for all of them)."""

    def __init__(self, hub: EventHub, run_id: str, start_id: int | None) -> None:
        self._hub = hub
        self.run_id = run_id
        self._snapshot = _Snapshot(start_id, start_id, False)
        self._wakes = [threading.Event() for _ in range(WAKE_SLOTS)]
        self.subscribers = 0
        self._joined = 0  # streams ever subscribed: the next one's slot
        self._thread = threading.Thread(
            target=self._follow, name=f"opgraph-follow-{run_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def last_id(self) -> int | None:
        return self._snapshot.last_id

    @property
    def ended(self) -> bool:
        return self._snapshot.ended

    def take_slot(self) -> int:
        """The wake group of a new stream (called under the hub's lock)."""
        self.subscribers += 1
        self._joined += 1
        return self._joined % WAKE_SLOTS

    def covers(self, cursor: int | None) -> bool:
        return _covered(self._snapshot, cursor)

    def events_after(self, cursor: int | None, timeout: float, slot: int = 0) -> Batch | None:
        """The buffered events after `cursor` as one text and the cursor after them, waiting
        up to `timeout` for some ("" and `cursor` if none came); None when the buffer does
        not reach back to `cursor` (read storage instead)."""
        wake = self._wakes[slot]  # before reading the buffer: a publish after it sets `wake`
        snapshot = self._snapshot
        if not _covered(snapshot, cursor):
            return None
        if not _has_newer(snapshot, cursor) and not snapshot.ended:
            wake.wait(timeout)
            snapshot = self._snapshot
            if not _covered(snapshot, cursor):
                return None
        return _newer(snapshot, cursor)

    def finished_at(self, cursor: int | None) -> bool:
        """The run has ended and a stream at `cursor` has every event of it."""
        snapshot = self._snapshot
        return snapshot.ended and _covered(snapshot, cursor) and not _has_newer(snapshot, cursor)

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
            self._snapshot = _Snapshot(2**63, 2**63, False)
            self._wake_all()
        finally:
            self._hub.forget(self)

    def _publish(self, events: list[EventRecord], finished: bool) -> None:
        old = self._snapshot
        ids, texts, covered_from = old.ids, old.texts, old.covered_from
        if events:
            # Rendered once, for every stream.
            ids += tuple(event.storage_id or 0 for event in events)
            texts += tuple(sse_message(event) for event in events)
            if len(ids) > BUFFER_EVENTS:
                covered_from = ids[-BUFFER_EVENTS - 1]
                ids, texts = ids[-BUFFER_EVENTS:], texts[-BUFFER_EVENTS:]
        has_end = any(event.event_type in RUN_END_EVENTS for event in events)
        # A finished run with no end event (deleted, or killed between the status move
        # and its event) ends its streams too.
        ended = has_end or (finished and not events)
        # Also when nothing came (every FOLLOW_WAIT_SECONDS while idle): the streams send
        # a keep-alive, and find a client that went away within two such writes.
        last_id = events[-1].storage_id if events else old.last_id
        self._snapshot = _Snapshot(covered_from, last_id, ended, ids, texts)
        self._wake_all()

    def _wake_all(self) -> None:
        wakes, self._wakes = self._wakes, [threading.Event() for _ in range(WAKE_SLOTS)]
        per_slot = self.subscribers / WAKE_SLOTS
        woken = 0.0
        for index, wake in enumerate(wakes):
            wake.set()
            woken += per_slot
            if woken >= WAKE_GROUP and index < len(wakes) - 1:
                # Under gevent, a timer: the worker runs this group's streams, then polls
                # its sockets (a waiting request goes on) before the next group.
                time.sleep(WAKE_PAUSE_SECONDS)
                woken = 0.0


def _covered(snapshot: _Snapshot, cursor: int | None) -> bool:
    if snapshot.covered_from is None:
        return True  # followed from the run's first event, buffer not yet trimmed
    return cursor is not None and cursor >= snapshot.covered_from


def _has_newer(snapshot: _Snapshot, cursor: int | None) -> bool:
    if cursor is None:
        return bool(snapshot.ids)
    return snapshot.last_id is not None and snapshot.last_id > cursor


def _newer(snapshot: _Snapshot, cursor: int | None) -> Batch:
    if not _has_newer(snapshot, cursor):
        return "", cursor
    start = 0 if cursor is None else bisect_right(snapshot.ids, cursor)
    # One new event (a stream that keeps up): the same str object for every stream.
    return "".join(snapshot.texts[start:]), snapshot.ids[-1]


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
    def follow(self, run_id: str, caught_up_at: int | None) -> Iterator[tuple[RunFollower, int]]:
        """The run's follower (started at `caught_up_at` if there is none yet) and the
        stream's wake slot."""
        with self._lock:
            follower = self._followers.get(run_id)
            if follower is None or follower.ended:
                follower = RunFollower(self, run_id, caught_up_at)
                self._followers[run_id] = follower
                follower.start()
            slot = follower.take_slot()
        try:
            yield follower, slot
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
