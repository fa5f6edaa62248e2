"""`/metrics` over known storage contents and a real Redis: every figure, exactly."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app
from opgraph_storage.records import (
    DaemonHeartbeat,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
)


@pytest.fixture
def queue() -> str:
    return f"metrics-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def instance(tmp_path, redis_url, queue):
    config = {"celery": {"broker_url": redis_url, "default_queue": queue}}
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    created = OpgraphInstance.get(tmp_path)
    yield created
    created.dispose()


@pytest.fixture
def waiting(redis_url, queue):
    """Three messages waiting in the queue (and one at another priority level)."""
    client = redis.Redis.from_url(redis_url)
    client.lpush(queue, b"{}", b"{}")
    client.lpush(f"{queue}:3", b"{}")
    yield
    client.delete(queue, f"{queue}:3")
    client.close()


def _run(run_id: str, status: RunStatus) -> RunRecord:
    now = time.time()
    return RunRecord(run_id, "job", status, {}, {}, created_at=now, updated_at=now)


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_report_storage_heartbeats_and_queues(instance, queue, waiting):
    storage = instance.storage
    for index, status in enumerate([RunStatus.SUCCESS, RunStatus.SUCCESS, RunStatus.STARTED]):
        storage.add_run(_run(f"run-{index}", status))
    t0 = time.time() - 100
    # Step attempts: published at t0, started after 0.02 s / 0.3 s / 2 s, ran 0.06 / 4 s.
    attempts = [
        StepAttempt("a1", "run-0", "s1", 0, queue=queue, queued_at=t0),
        StepAttempt("a2", "run-0", "s2", 0, queue=queue, queued_at=t0),
        StepAttempt("a3", "run-0", "s2", 1, queue=queue, queued_at=t0),  # a retry
        StepAttempt("a4", "run-2", "s1", 0, queue=queue, queued_at=t0),  # still waiting
    ]
    storage.add_step_attempts(attempts)
    assert storage.claim_step_attempt("a1", "w1@h", 1, t0 + 0.02)
    assert storage.claim_step_attempt("a2", "w1@h", 1, t0 + 0.3)
    assert storage.claim_step_attempt("a3", "w1@h", 1, t0 + 2)
    assert storage.finish_step_attempt("a1", StepAttemptStatus.SUCCESS, t0 + 0.08)
    assert storage.finish_step_attempt("a2", StepAttemptStatus.FAILURE, t0 + 4.3)
    now = time.time()
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "d1", now - 7))
    storage.add_daemon_heartbeat(
        DaemonHeartbeat("celery_worker:w1@h", "w1@h", now - 2, {"queues": [queue, "io"]})
    )
    storage.add_daemon_heartbeat(  # silent for a minute: gone
        DaemonHeartbeat("celery_worker:w2@h", "w2@h", now - 120, {"queues": [queue]})
    )

    response = create_app(instance).test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    got = _samples(response.get_data(as_text=True))

    assert got[("opgraph_runs", (("status", "SUCCESS"),))] == 2
    assert got[("opgraph_runs", (("status", "STARTED"),))] == 1
    by = (("queue", queue),)
    assert got[("opgraph_step_attempts", (*by, ("status", "QUEUED")))] == 1
    assert got[("opgraph_step_attempts", (*by, ("status", "RUNNING")))] == 1
    assert got[("opgraph_step_attempts", (*by, ("status", "SUCCESS")))] == 1
    assert got[("opgraph_step_attempts", (*by, ("status", "FAILURE")))] == 1
    assert got[("opgraph_step_attempts_retried_total", ())] == 1
    duration = "opgraph_step_duration_seconds"
    assert got[(f"{duration}_bucket", (("le", "0.05"),))] == 0
    assert got[(f"{duration}_bucket", (("le", "0.1"),))] == 1
    assert got[(f"{duration}_bucket", (("le", "2.5"),))] == 1
    assert got[(f"{duration}_bucket", (("le", "5.0"),))] == 2
    assert got[(f"{duration}_bucket", (("le", "+Inf"),))] == 2
    assert got[(f"{duration}_count", ())] == 2
    assert got[(f"{duration}_sum", ())] == pytest.approx(4.06, abs=1e-3)
    latency = "opgraph_step_dispatch_latency_seconds"
    assert got[(f"{latency}_bucket", (("le", "0.025"),))] == 1
    assert got[(f"{latency}_bucket", (("le", "0.5"),))] == 2
    assert got[(f"{latency}_bucket", (("le", "2.5"),))] == 3
    assert got[(f"{latency}_count", ())] == 3
    assert got[(f"{latency}_sum", ())] == pytest.approx(2.32, abs=1e-3)
    age = got[("opgraph_daemon_heartbeat_age_seconds", (("daemon", "SCHEDULER"),))]
    assert 7 <= age < 17
    assert got[("opgraph_celery_workers", ())] == 1
    assert got[("opgraph_celery_queue_consumers", by)] == 1
    assert got[("opgraph_celery_queue_consumers", (("queue", "io"),))] == 1
    assert got[("opgraph_celery_queue_depth", by)] == 3
    assert got[("opgraph_broker_up", ())] == 1


def _hanging_up_broker() -> tuple[int, list[int]]:
    """A port whose server hangs up on every connection, counting them: a broker that is
    down. Without the scrape's no-retry options, kombu connects to it 3 times."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    accepted: list[int] = []

    def serve() -> None:
        while True:
            connection, _ = server.accept()
            accepted.append(1)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], accepted


def test_a_queue_nobody_consumes_is_measured_and_a_down_broker_is_reported(tmp_path):
    port, accepted = _hanging_up_broker()
    config = {"celery": {"broker_url": f"redis://127.0.0.1:{port}/0", "default_queue": "q"}}
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    instance = OpgraphInstance.get(tmp_path)
    try:
        instance.storage.add_step_attempts(
            [StepAttempt("a1", "r", "s", 0, queue="gpu", queued_at=time.time())]
        )
        body = create_app(instance).test_client().get("/metrics").get_data(as_text=True)
        assert len(accepted) == 1  # no retrying the broker within a scrape
    finally:
        instance.dispose()
    got = _samples(body)
    assert got[("opgraph_celery_queue_consumers", (("queue", "gpu"),))] == 0
    assert got[("opgraph_broker_up", ())] == 0
    assert not any(name == "opgraph_celery_queue_depth" for name, _ in got)
    assert got[("opgraph_step_attempts", (("queue", "gpu"), ("status", "QUEUED")))] == 1


def test_metrics_answer_503_when_storage_is_unreachable(tmp_path):
    config = {"storage": {"url": "postgresql://nobody@127.0.0.1:1/none"}}
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    response = create_app(OpgraphInstance.get(tmp_path)).test_client().get("/metrics")
    assert response.status_code == 503
    assert "storage unavailable" in response.get_data(as_text=True)
