"""A fresh worker takes no message from Redis before one of its pool processes is warm
(opgraph_celery.warm_gate), and no longer than WAIT_AT_MOST_SECONDS when none gets warm.
The consumer here is a stand-in holding a real kombu Redis channel's QoS contract: the
gate wraps `can_consume`, which kombu asks before every BRPOP."""

from __future__ import annotations

import multiprocessing
from types import SimpleNamespace

import pytest
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadPool

from opgraph_celery import warm_gate


class _QoS:
    def __init__(self) -> None:
        self.slots = True

    def can_consume(self) -> bool:
        return self.slots


def _consumer(driver: str = "redis", pool: object | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        task_consumer=SimpleNamespace(channel=SimpleNamespace(qos=_QoS())),
        connection=SimpleNamespace(transport=SimpleNamespace(driver_type=driver)),
        pool=pool if pool is not None else PreforkPool.__new__(PreforkPool),
    )


@pytest.fixture
def fresh_flag(monkeypatch):
    monkeypatch.setattr(warm_gate, "_warm", multiprocessing.get_context("fork").Event())


def test_no_message_before_a_pool_process_is_warm_then_as_before(fresh_flag):
    consumer = _consumer()
    warm_gate._hold_redis_consumer(consumer)
    qos = consumer.task_consumer.channel.qos

    assert not qos.can_consume()
    warm_gate.mark_warm()
    assert qos.can_consume()
    qos.slots = False  # the prefetch limit still applies
    assert not qos.can_consume()


def test_a_pool_process_in_another_process_opens_the_gate(fresh_flag):
    consumer = _consumer()
    warm_gate._hold_redis_consumer(consumer)
    child = multiprocessing.get_context("fork").Process(target=warm_gate.mark_warm)
    child.start()
    child.join(60)

    assert child.exitcode == 0
    assert consumer.task_consumer.channel.qos.can_consume()


def test_a_warm_up_that_never_comes_holds_the_worker_back_only_so_long(fresh_flag, monkeypatch):
    monkeypatch.setattr(warm_gate, "WAIT_AT_MOST_SECONDS", 0.0)
    consumer = _consumer()
    warm_gate._hold_redis_consumer(consumer)

    assert consumer.task_consumer.channel.qos.can_consume()


def test_rabbitmq_consumers_are_left_alone(fresh_flag):
    consumer = _consumer("amqp")
    warm_gate._hold_redis_consumer(consumer)

    assert consumer.task_consumer.channel.qos.can_consume()


def test_a_pool_that_does_not_warm_up_is_not_held_back(fresh_flag):
    consumer = _consumer(pool=ThreadPool.__new__(ThreadPool))
    warm_gate._hold_redis_consumer(consumer)

    assert consumer.task_consumer.channel.qos.can_consume()
