"""The default executor: a serial plan in the run worker's process, any other in a pool."""

import os
import time

import pytest

from opgraph import OpgraphInstance, execute_job, reconstructable
from opgraph.code_pointer import load_job
from opgraph.execute import ExecuteJobResult
from opgraph.executors.adaptive import is_serial
from opgraph.instance_config import InstanceConfig
from opgraph.plan import ExecutionPlan
from opgraph.ports import RUN_WORKER_PID_TAG
from opgraph.run_config import validate_run_config
from opgraph_storage.records import FINISHED_STATUSES, RunStatus
from tests.executor import adaptive_jobs, jobs


def plan_of(job):
    return ExecutionPlan.build(job, validate_run_config(job, {}))


@pytest.mark.parametrize(
    ("job", "serial"),
    [
        (adaptive_jobs.chain, True),
        (jobs.linear, True),
        (adaptive_jobs.diamond, False),
        (jobs.fan_out_in, False),
        (jobs.dynamic, False),  # its fan-out is known only when it runs
    ],
)
def test_which_plans_are_serial(job, serial):
    assert is_serial(plan_of(job)) is serial


@pytest.fixture
def instance(tmp_path, sqlite_url):
    instance = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield instance
    instance.dispose()


def test_a_chain_runs_in_this_process(instance):
    result = execute_job(reconstructable(adaptive_jobs.chain), instance)
    assert result.success
    assert result.output_for_node("second") == [os.getpid(), os.getpid()]


def test_a_plan_with_parallel_steps_gets_the_pool(instance):
    result = execute_job(reconstructable(adaptive_jobs.diamond), instance)
    assert result.success
    pids = result.output_for_node("gather")
    assert os.getpid() not in pids


@pytest.mark.parametrize(
    ("job", "run_config"),
    [
        (adaptive_jobs.chain, {"execution": {"config": {"multiprocess": {"max_concurrent": 1}}}}),
        (adaptive_jobs.chain_in_a_pool, {}),
    ],
    ids=["run config names multiprocess", "job names multiprocess_executor"],
)
def test_multiprocess_asked_for_keeps_the_pool(instance, job, run_config):
    result = execute_job(reconstructable(job), instance, run_config=run_config)
    assert result.success
    pids = result.output_for_node("second")
    assert os.getpid() not in pids
    assert pids[0] == pids[1]  # max_concurrent 1 / one ready step: one pool process


JOBS = """
import os
import subprocess
import sys

from opgraph import job, op


@op
def hello():
    print("printed by the op")
    subprocess.run([sys.executable, "-c", "print('printed by a subprocess of the op')"])
    return os.getpid()


@job
def one_op():
    hello()
"""


def test_a_one_op_run_runs_in_its_run_worker(make_instance, tmp_path):
    """Launched for real: the op's pid is the run worker's, and its output (a
    subprocess's too) is captured per step as a pool process would capture it."""
    instance = make_instance(launcher={"subprocess": {}})
    path = tmp_path / "code" / "jobs.py"
    path.parent.mkdir()
    path.write_text(JOBS)
    pointer = {
        "python_file": str(path),
        "attribute": "one_op",
        "working_directory": str(path.parent),
    }
    run = instance.create_run("one_op", code_pointer=pointer)

    instance.submit_run(run.run_id)

    deadline = time.monotonic() + 120
    while (run := instance.get_run(run.run_id)).status not in FINISHED_STATUSES:
        assert time.monotonic() < deadline, f"run is still {run.status.value}"
        time.sleep(0.05)
    log = instance.home / "run_workers" / f"{run.run_id}.log"
    assert run.status is RunStatus.SUCCESS, log.read_text()
    worker_pid = int(run.tags[RUN_WORKER_PID_TAG])
    result = ExecuteJobResult(instance, load_job(pointer, "one_op"), run.run_id)
    assert result.output_for_node("hello") == worker_pid
    captured = (instance.compute_logs_dir / run.run_id / "hello.out").read_text()
    assert "printed by the op" in captured
    assert "printed by a subprocess of the op" in captured
