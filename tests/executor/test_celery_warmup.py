"""A Celery pool process prepares the runs with queued steps when it starts."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from opgraph import OpgraphInstance
from opgraph_celery import warmup, worker_state
from opgraph_storage.records import StepAttempt

JOBS = (Path(__file__).parent.parent / "one_op_job.py").read_text()


@pytest.fixture
def home(tmp_path, monkeypatch, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    monkeypatch.setattr(worker_state, "_state", None)  # as in a fresh pool process
    yield tmp_path
    state = worker_state._state
    if state is not None:
        state.instance.dispose()


def queue_step(instance: OpgraphInstance, pointer: dict, queued_at: float) -> str:
    run = instance.create_run("one_op", code_pointer=pointer)
    attempt = StepAttempt(uuid.uuid4().hex, run.run_id, "one", 0, queued_at=queued_at)
    instance.storage.add_step_attempts([attempt])
    return run.run_id


def test_the_runs_with_queued_steps_are_prepared(home):
    (home / "jobs.py").write_text(JOBS)
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    older = queue_step(instance, pointer, queued_at=1.0)
    newer = queue_step(instance, pointer, queued_at=2.0)
    instance.create_run("one_op", code_pointer=pointer)  # nothing queued: not prepared

    # (the budget that keeps a pool start inside Celery's limit is not what is tested here)
    assert warmup.warm_pool_process(budget_seconds=600) == [newer, older]
    state = worker_state.worker_state()
    assert state.environment(newer).plan.job.name == "one_op"  # from the cache
    instance.dispose()


def test_a_job_that_does_not_load_is_left_to_its_step(home):
    (home / "jobs.py").write_text("raise ImportError('the warehouse is down')\n")
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    queue_step(instance, pointer, queued_at=1.0)

    assert warmup.warm_pool_process(budget_seconds=600) == []
    assert worker_state._state is not None  # the instance and storage are set up all the same
    instance.dispose()


def test_the_dry_step_path_goes_through_each_pooled_connection_and_changes_nothing(storage):
    import sqlalchemy as sa

    from opgraph_storage.records import RunRecord

    storage.add_run(RunRecord(run_id="r1", job_name="one_op"))
    storage.add_step_attempts([StepAttempt("a1", "r1", "one", 0, queued_at=1.0)])
    engine = storage.engine
    warmup._open_connections(storage, warmup.POOLED_CONNECTIONS)
    used: dict[int, list[str]] = {}

    def record(conn, _cursor, statement, *_args):
        used.setdefault(id(conn.connection.dbapi_connection), []).append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        warmup.dry_step_path(storage)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(used) == warmup.POOLED_CONNECTIONS
    for statements in used.values():  # the claim, the completion and the run's read each
        assert any("step_attempts" in s and s.lstrip().startswith("UPDATE") for s in statements)
        assert any("FROM runs" in s for s in statements)
        assert any("FROM run_tags" in s for s in statements)  # an existing run's tags
    [attempt] = storage.get_step_attempts(run_id="r1")
    assert attempt.status.value == "QUEUED" and attempt.hostname is None
    assert storage.get_events("r1") == []


PRELOADED = """
import sys
from opgraph_celery import warmup
before = {name for name in ("opgraph_storage.sql", "psycopg2") if name in sys.modules}
warmup.preload_step_path()
after = {name for name in ("opgraph_storage.sql", "psycopg2") if name in sys.modules}
print(sorted(before), sorted(after))
"""


@pytest.mark.postgres
def test_the_main_process_imports_the_storage_and_its_driver_for_the_pool(tmp_path, pg_url):
    """A pool process is forked from the worker's main process after `worker_init`: what
    is imported there, each pool process does not import again."""
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": pg_url}}))
    result = subprocess.run(
        [sys.executable, "-P", "-c", PRELOADED],
        env={**os.environ, "OPGRAPH_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.split("\n")[0] == "[] ['opgraph_storage.sql', 'psycopg2']"
