"""A fresh worker takes no message from Redis until one of its pool processes is warm.

A worker's consumer is up a moment after its main process starts, well before its pool
processes have loaded the jobs of the queued runs (`warmup.py`, up to
`warmup.BUDGET_SECONDS`). Messages it takes meanwhile wait in it, unclaimed, while warm
workers could have run them; and if it dies in that window (a crash loop, a fleet
scaled up and down, the kill loop of `benchmarks.celery_suite`), each one waits until the
run worker finds it stranded. Measured before this gate (7 December, load 0.3-2): a
re-published step was taken at the very moment each replacement worker came up, 10 times
in a row, by a worker killed before its pool could claim it: the newest worker is the one
whose prefetch slots are free.

So the worker's main process asks its Redis channel not to consume (kombu's
`QoS.can_consume`, looked at before every BRPOP; Celery's `worker_disable_prefetch` uses
the same hook) until a pool process says its warm-up prepared the queued runs, or
`WAIT_AT_MOST_SECONDS` passed (a warm-up that fails or hangs costs that much, once).
RabbitMQ pushes to consumers instead, and gives a dead worker's messages back at once:
there the gate does nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from types import MethodType
from typing import Any

from celery.signals import worker_init, worker_ready

logger = logging.getLogger(__name__)

# warmup.BUDGET_SECONDS, and time for a pool process to start.
WAIT_AT_MOST_SECONDS = 4.0

# The pools whose processes warm up (their start sends worker_process_init).
WARMED_POOLS = ("celery.concurrency.prefork", "celery.concurrency.solo")

# Made in the main process before the pool forks, so every pool process shares it.
_warm: Any = None


def mark_warm() -> None:
    """Called by a pool process once its warm-up has prepared the queued runs (or gave up:
    the gate must not wait for a warm-up that will not come)."""
    if _warm is not None:
        _warm.set()


@worker_init.connect(weak=False, dispatch_uid="opgraph-warm-gate-init")
def _make_shared_flag(**_: Any) -> None:
    global _warm
    _warm = multiprocessing.get_context("fork").Event()


@worker_ready.connect(weak=False, dispatch_uid="opgraph-warm-gate")
def _hold_redis_consumer(sender: Any = None, **_: Any) -> None:
    """`sender`: the worker's Consumer; its task consumer reads the broker by now."""
    channel = getattr(getattr(sender, "task_consumer", None), "channel", None)
    transport = getattr(getattr(sender, "connection", None), "transport", None)
    if channel is None or _warm is None or getattr(transport, "driver_type", None) != "redis":
        return
    if type(getattr(sender, "pool", None)).__module__ not in WARMED_POOLS:
        return  # a threads or green pool sends no worker_process_init: nothing warms up
    qos = channel.qos
    consume_as_before = qos.can_consume
    deadline = time.monotonic() + WAIT_AT_MOST_SECONDS

    def can_consume(self: Any) -> bool:
        if not _warm.is_set():
            if time.monotonic() < deadline:
                return False
            logger.warning(
                "no pool process warm after %.0fs: taking messages anyway", WAIT_AT_MOST_SECONDS
            )
            _warm.set()
        return bool(consume_as_before())

    qos.can_consume = MethodType(can_consume, qos)
