"""Finding step attempts stranded by a worker that died: messages that left their queue
and were never claimed, and claimed attempts that no live worker runs.

A worker takes a message off its queue, then its pool process claims the attempt (a
compare-and-set from QUEUED to RUNNING, once the job's code is loaded). A message taken
but not claimed for long belongs to a worker that died or hangs in between, or was lost
by the broker on the way:

- Redis pops the message into kombu's `unacked` hash. A worker that dies leaves it there
  until the visibility timeout (hours) has passed; a worker whose link dies between the
  pop and the hash loses it for good.
- RabbitMQ puts a dead worker's unacknowledged messages back at once (its connection
  closed), so there only a hung worker strands a message.

The run worker asks which messages still wait in their queues (on RabbitMQ, the queue a
message went to: a step queue or its urgent lane, see settings.message_queue): an attempt QUEUED long,
whose message is not waiting, was taken; untouched for `step_unclaimed_timeout_seconds`
after that, it is given up and published again (see the executor). The claim drops the
old message if it ever arrives.

Waiting for that timeout is only needed when the fleet cannot say who holds a message.
`look_at_fleet` also asks the workers themselves (Celery's `query_task` broadcast, one
message whatever the fleet's size) which of the doubtful attempts each one has reserved
or is running. A worker answers from its main process, so one that is busy running an op
still answers; a SIGKILLed one does not. An attempt that left its queue and that no
answering worker holds, or a RUNNING attempt that stopped heartbeating and that no worker
runs, is stranded: the executor gives it up after two such looks in a row (a message in
flight between the broker and a worker at the first look is held by the second).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opgraph_celery.settings import is_amqp, redis_queue_keys

# Reading a deeper queue whole would cost more than waiting until it is shorter.
MAX_SCANNED_DEPTH = 1000
# How long a look waits for the workers' replies. A live worker's main process answers in
# milliseconds; a second leaves room for a loaded machine (the look runs in the
# background: the run worker does not wait for it).
REPLY_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class FleetLook:
    """What the broker and the workers said about some attempts, at `started_at`."""

    started_at: float
    # Per queue asked: the ids of the messages waiting in it; None where it cannot be told.
    waiting: Mapping[str, set[str] | None]
    # The attempts the workers were asked about, and the workers that answered (none asked:
    # empty); `held` maps each attempt that answering workers reserved or run to them.
    asked: frozenset[str]
    answered: frozenset[str]
    held: Mapping[str, frozenset[str]]


def look_at_fleet(
    app: Any,
    queued: Mapping[str, str],
    running: Iterable[str],
    expected_replies: int | None = None,
    timeout: float = REPLY_TIMEOUT_SECONDS,
) -> FleetLook:
    """`queued`: attempt id -> queue of QUEUED attempts in doubt; `running`: ids of RUNNING
    attempts that stopped heartbeating. The workers are asked only about the QUEUED
    attempts whose message is not waiting, and about the RUNNING ones: a healthy run, all
    of whose messages wait or are claimed, costs no broadcast. The look ends after
    `expected_replies` answers (the live workers) or `timeout`: a worker whose answer comes
    after counts as not having answered, which only ever delays a judgement."""
    started = time.time()
    waiting = waiting_messages(app, queued.values()) if queued else {}
    taken = {
        attempt_id
        for attempt_id, queue in queued.items()
        if (ids := waiting.get(queue)) is not None and attempt_id not in ids
    }
    asked = frozenset(taken | set(running))
    if not asked:
        return FleetLook(started, waiting, asked, frozenset(), {})
    inspect = app.control.inspect(timeout=timeout, limit=expected_replies)
    replies = inspect.query_task(sorted(asked)) or {}
    held: dict[str, set[str]] = {}
    for node, tasks in replies.items():
        for task_id in tasks if isinstance(tasks, dict) else {}:
            held.setdefault(task_id, set()).add(node)
    return FleetLook(
        started, waiting, asked, frozenset(replies), {k: frozenset(v) for k, v in held.items()}
    )


def waiting_messages(app: Any, queues: Iterable[str]) -> dict[str, set[str] | None]:
    """Per queue, the task ids of the messages waiting in it (not yet taken by a worker);
    None where that cannot be told: a Redis queue too deep to read, or a RabbitMQ queue
    that is not empty (its messages can only be counted, not listed)."""
    names = sorted(set(queues))
    if is_amqp(app.conf.broker_url):
        from opgraph_celery.fleet import amqp_queue_counts

        counts = amqp_queue_counts(app, names)
        return {name: (set() if counts[name][0] == 0 else None) for name in names}
    return _redis_waiting(app, names)


def _redis_waiting(app: Any, names: list[str]) -> dict[str, set[str] | None]:
    sep = app.conf.broker_transport_options.get("sep", ":")
    keys = {name: redis_queue_keys(name, sep) for name in names}
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        depth_pipe = client.pipeline()
        for name in names:
            for key in keys[name]:
                depth_pipe.llen(key)
        depths = iter(depth_pipe.execute())
        readable = [n for n in names if sum(next(depths) for _ in keys[n]) <= MAX_SCANNED_DEPTH]
        pipe = client.pipeline()
        for name in readable:
            for key in keys[name]:
                pipe.lrange(key, 0, -1)
        lists = iter(pipe.execute())
    found: dict[str, set[str] | None] = dict.fromkeys(names)
    for name in readable:
        ids = {_task_id(json.loads(raw)) for _ in keys[name] for raw in next(lists)}
        found[name] = {task_id for task_id in ids if task_id is not None}
    return found


def _task_id(message: Any) -> str | None:
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers.get("id") if isinstance(headers, dict) else None
