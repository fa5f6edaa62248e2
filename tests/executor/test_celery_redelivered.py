"""A step message the broker delivers again, for an attempt already claimed, is dropped
before the worker loads the job (RabbitMQ hands a killed worker's messages straight to
the next worker that starts)."""

import uuid

import pytest
import yaml

from opgraph import OpgraphInstance
from opgraph_celery import worker_state
from opgraph_celery.tasks import execute_step
from opgraph_storage.records import StepAttempt

JOBS = """
from pathlib import Path

Path(__file__).with_name("imported").write_text("the job's module was loaded")

from opgraph import job, op


@op
def one():
    return 1


@job
def one_op():
    one()
"""


@pytest.fixture
def home(tmp_path, monkeypatch, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    (tmp_path / "jobs.py").write_text(JOBS)
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    monkeypatch.setattr(worker_state, "_state", None)  # as in a fresh pool process
    yield tmp_path
    state = worker_state._state
    if state is not None:
        state.instance.dispose()


def queued_attempt(home) -> dict:
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    run = instance.create_run("one_op", code_pointer=pointer)
    attempt = StepAttempt(uuid.uuid4().hex, run.run_id, "one", 0, queued_at=1.0)
    instance.storage.add_step_attempts([attempt])
    step = {"key": "one", "handle": "one", "mapping_key": None, "attempt": 0, "inputs": []}
    return {
        "run_id": run.run_id,
        "attempt_id": attempt.attempt_id,
        "step": step,
        "code_pointer": pointer,
        "job_name": "one_op",
    }


def deliver(payload: dict, redelivered: bool) -> str:
    execute_step.push_request(delivery_info={"redelivered": redelivered}, hostname="w@test")
    try:
        return execute_step.run(payload)
    finally:
        execute_step.pop_request()


def test_a_redelivered_copy_of_a_claimed_attempt_is_dropped_without_loading_the_job(home):
    payload = queued_attempt(home)
    storage = worker_state.worker_state().instance.storage
    assert storage.claim_step_attempt(payload["attempt_id"], "dead@host", 1, 2.0)

    assert deliver(payload, redelivered=True) == "duplicate"
    assert not (home / "imported").exists()


def test_a_redelivered_message_of_an_unclaimed_attempt_runs(home):
    """A worker killed before its claim: the copy is the only message, and it runs."""
    payload = queued_attempt(home)

    assert deliver(payload, redelivered=True) == "SUCCESS"
    assert (home / "imported").exists()
