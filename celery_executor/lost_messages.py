"""Finding step messages the Redis broker lost.

Redis hands a message to a worker by popping it from the queue's list; the worker's kombu
then records it among the delivered, unacknowledged messages (the `unacked` hash), from
where Redis delivers it again if the worker goes away. A worker whose link dies between
the two loses the message: it is in neither place and never comes back, and its attempt
would wait QUEUED forever while other workers consume the queue. The run worker asks, for
attempts queued a long while, whether Redis still holds their messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opgraph_celery.settings import redis_queue_keys

# Reading a deeper queue whole would cost more than waiting until it is shorter.
MAX_SCANNED_DEPTH = 1000


def held_messages(app: Any, queues: Iterable[str]) -> set[str] | None:
    """Task ids of the messages Redis holds for `queues` (waiting or delivered and not
    acknowledged); None when a queue is too deep to read (then nothing can be concluded)."""
    options = app.conf.broker_transport_options
    sep = options.get("sep", ":")
    keys = [key for queue in queues for key in redis_queue_keys(queue, sep)]
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        depth_pipe = client.pipeline()
        for key in keys:
            depth_pipe.llen(key)
        if sum(depth_pipe.execute()) > MAX_SCANNED_DEPTH:
            return None
        pipe = client.pipeline()
        for key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hvals(options.get("unacked_key", "unacked"))
        *waiting, unacked = pipe.execute()
    found = [_task_id(json.loads(raw)) for messages in waiting for raw in messages]
    # An unacknowledged entry is [message, exchange, routing key].
    found += [_task_id(json.loads(raw)[0]) for raw in unacked]
    return {task_id for task_id in found if task_id is not None}


def _task_id(message: Any) -> str | None:
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers.get("id") if isinstance(headers, dict) else None
