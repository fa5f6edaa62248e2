"""Which Celery workers are alive by their own heartbeats in storage, and what the run
worker's Celery executor concludes from them when a broadcast goes unanswered.

A control broadcast (`active_queues`, `query_task`) is answered by a worker's main
process within `lost_messages.REPLY_TIMEOUT_SECONDS`, or not at all: a starved or
restarting worker answers late, and its answer is dropped. Silence alone therefore does
not say a worker is gone. Each worker's main process also writes a heartbeat (with the
queues it consumes) every `liveness.heartbeat_interval_seconds` (`fleet.WorkerHeartbeat`),
naming the database session it holds (`opgraph_storage.sessions`); the executor counts a
worker as alive while that heartbeat is recent enough and, where the storage can tell,
its session is open: a SIGKILLed worker's session ends at once, a slow one's does not.
One whose session ended is `gone`, known dead, and one look suffices against it.

- A queue counts as consumed when a broadcast or the heartbeat of a worker at most two
  beats late names it (a RabbitMQ urgent lane: or names its queue, see settings.py):
  only when neither does is a step there failed for having no consumer (being wrong the
  other way only makes a step wait longer); the heartbeat alone decides here. A heartbeat
  that names another broker than the run worker's does not count: those workers never
  see the message (a run launched from a shell that lacks the fleet's broker URL), and
  the step's warning names them and their broker.
- A QUEUED attempt whose message left its queue counts against the fleet ("held by no
  worker") only when every worker consuming that queue that has missed no beat answered
  the look without holding it: one that did not answer may hold it and be merely late.
- A RUNNING attempt is judged by its own beat (`counts_against_running`), which its pool
  process writes every second whether or not its worker's main process answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from opgraph_celery.fleet import BROKER_KEY, HEARTBEAT_PREFIX, SESSION_KEY
from opgraph_celery.lost_messages import FleetLook
from opgraph_celery.settings import lane_of


@dataclass(frozen=True)
class LiveWorkers:
    """Node name -> the queues it consumes, of the workers whose heartbeat is recent; and
    `gone`: those among them whose database session ended, known dead (not merely late)."""

    queues: Mapping[str, frozenset[str]]
    gone: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Node -> the broker it consumes from (settings.broker_identity); a worker older than
    # that field names none.
    brokers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_heartbeats(
        cls,
        beats: Mapping[str, Any],
        now: float,
        silent_after: float,
        open_sessions: Set[str] | None = None,
    ) -> LiveWorkers:
        """`beats`: `storage.get_daemon_heartbeats()`; a worker is alive when its last
        beat is at most `silent_after` seconds old and, where its beat names the database
        session it holds and `open_sessions` (`storage.open_sessions`) can tell, that
        session is still open: it closed the moment the worker died."""
        live: dict[str, frozenset[str]] = {}
        gone: dict[str, frozenset[str]] = {}
        brokers: dict[str, str] = {}
        for name, beat in beats.items():
            if not name.startswith(HEARTBEAT_PREFIX) or now - beat.timestamp > silent_after:
                continue
            info = beat.info if isinstance(beat.info, dict) else {}
            queues = frozenset(q for q in info.get("queues") or [] if isinstance(q, str))
            if isinstance(info.get(BROKER_KEY), str):
                brokers[beat.daemon_id] = info[BROKER_KEY]
            session = info.get(SESSION_KEY)
            ended = (
                open_sessions is not None and session is not None and session not in open_sessions
            )
            (gone if ended else live)[beat.daemon_id] = queues
        return cls(live, gone, brokers)

    @classmethod
    def read(cls, storage: Any, now: float, silent_after: float) -> LiveWorkers:
        beats = storage.get_daemon_heartbeats()
        return cls.from_heartbeats(beats, now, silent_after, worker_sessions(storage, beats))

    def consuming(self, queue: str) -> frozenset[str]:
        """A beat lists a worker's queues without their urgent lanes (fleet.WorkerHeartbeat):
        a worker consuming a queue consumes its lane."""
        return _consuming(self.queues, queue)

    def consuming_on(self, queue: str, broker: str) -> frozenset[str]:
        """Those consuming `queue` on `broker` (settings.broker_identity), or that do not
        say which broker: a worker that names another one never sees this queue's
        messages, however many of them wait."""
        return frozenset(
            node for node in self.consuming(queue) if self.brokers.get(node, broker) == broker
        )

    def gone_consuming(self, queue: str) -> frozenset[str]:
        """The workers known dead that consumed `queue` when they last beat."""
        return _consuming(self.gone, queue)


def _consuming(queues_by_node: Mapping[str, frozenset[str]], queue: str) -> frozenset[str]:
    base = lane_of(queue)
    names = {queue} if base is None else {queue, base}
    return frozenset(node for node, queues in queues_by_node.items() if names & queues)


def worker_sessions(storage: Any, beats: Mapping[str, Any]) -> set[str] | None:
    """Which of the database sessions the workers' `beats` name are still open; None when
    the storage cannot tell (SQLite, or an old worker's beats that name none)."""
    tokens = [
        beat.info[SESSION_KEY]
        for name, beat in beats.items()
        if name.startswith(HEARTBEAT_PREFIX)
        and isinstance(beat.info, dict)
        and isinstance(beat.info.get(SESSION_KEY), str)
    ]
    return storage.open_sessions(tokens) if tokens else None


def unanswered_consumers(look: FleetLook, live: LiveWorkers, queue: str) -> frozenset[str]:
    """The live workers consuming `queue` that did not answer `look`: any of them may hold
    a message taken off `queue`."""
    return live.consuming(queue) - look.answered


def counts_against_queued(look: FleetLook, live: LiveWorkers, attempt_id: str, queue: str) -> bool:
    """Whether `look` shows a QUEUED attempt, whose message left `queue`, held by no worker:
    it was asked about, no answering worker holds it, and no live worker that could hold
    it stayed silent."""
    if attempt_id not in look.asked or attempt_id in look.held:
        return False
    return not unanswered_consumers(look, live, queue)


def counts_against_running(
    look: FleetLook, attempt_id: str, claimant: str | None, last_beat: float
) -> bool:
    """Whether `look` shows a RUNNING attempt run by no worker: its claimant did not say it
    runs it (it answered without it, or did not answer), and the attempt itself has not
    beaten since the look began. Its own beat (every worker_state.HEARTBEAT_SECONDS, from
    the pool process that runs it) decides whether or not any worker answered: a
    claimant whose main process is merely late still has its attempts beating."""
    if attempt_id not in look.asked or claimant in look.held.get(attempt_id, ()):
        return False
    return last_beat < look.started_at
