"""Where a step's message goes: RabbitMQ's quorum queues ignore priorities (3.x), so the
messages above the default priority go to the queue's urgent lane; Redis orders them."""

from opgraph_celery.settings import (
    DEFAULT_PRIORITY,
    celery_settings,
    message_queue,
    republished_priority,
    with_urgent_lanes,
    without_urgent_lanes,
)

AMQP = "amqp://guest:guest@localhost:5672//"
REDIS = "redis://localhost:6379/0"


def test_rabbitmq_sends_messages_above_the_default_priority_to_the_urgent_lane():
    assert message_queue("io", DEFAULT_PRIORITY, AMQP) == "io"
    assert message_queue("io", 0, AMQP) == "io"
    assert message_queue("io", DEFAULT_PRIORITY + 1, AMQP) == "io.urgent"
    assert message_queue("io", 9, "pyamqp://h//") == "io.urgent"


def test_redis_keeps_one_queue_and_orders_by_priority():
    assert message_queue("io", 9, REDIS) == "io"
    assert celery_settings(REDIS)["broker_transport_options"]["priority_steps"] == list(range(10))


def test_a_republished_attempt_goes_above_the_default_priority():
    assert republished_priority(DEFAULT_PRIORITY) == DEFAULT_PRIORITY + 1
    assert republished_priority(0) == DEFAULT_PRIORITY + 1  # a low step's too
    assert republished_priority(8) == 9
    assert celery_settings(AMQP)["task_default_priority"] == DEFAULT_PRIORITY


def test_a_worker_consumes_each_lane_first_and_lists_it_with_its_queue():
    assert with_urgent_lanes(["opgraph", "runs"]) == [
        "opgraph.urgent",
        "runs.urgent",
        "opgraph",
        "runs",
    ]
    # A lane named on the command line is not given a lane of its own.
    assert with_urgent_lanes(["io.urgent"]) == ["io.urgent"]
    assert without_urgent_lanes(["opgraph.urgent", "runs.urgent", "opgraph", "runs"]) == [
        "opgraph",
        "runs",
    ]
    assert without_urgent_lanes(["io.urgent"]) == ["io.urgent"]  # consumed alone: listed
