"""The Celery run launcher: run workers as tasks on the fleet's runs queue."""

import time

from celery_executor.run_launcher import RUN_TASK_TAG
from opgraph import OpgraphInstance, reconstructable
from opgraph.instance_config import InstanceConfig
from opgraph.submit import submit_job_run
from storage.records import FINISHED_STATUSES, RunStatus
from tests.fleet import jobs


def launcher_instance(fleet, runs_queue):
    config = InstanceConfig.model_validate(
        {
            "storage": {"url": fleet.storage_url},
            "celery": {"broker_url": fleet.broker_url, "default_queue": fleet.queue},
            "run_launcher": {"celery": {"queue": runs_queue}},
        }
    )
    return OpgraphInstance(fleet.home, config)


def wait_finished(instance, run_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {instance.get_run(run_id).status}")


def test_run_worker_as_a_celery_task_with_any_executor(celery_fleet, tmp_path):
    runs_queue = f"{celery_fleet.queue}-runs"
    celery_fleet.start_worker("runner", queues=[runs_queue], concurrency=2)
    instance = launcher_instance(celery_fleet, runs_queue)
    try:
        pointer = reconstructable(jobs.naps).pointer
        for execution in ({"multiprocess": {"max_concurrent": 2}}, {"celery": {}}):
            run = submit_job_run(
                instance,
                pointer,
                "naps",
                {"execution": {"config": execution}},
                {"test/marker_dir": str(tmp_path)},
            )
            assert run.status is RunStatus.STARTING
            finished = wait_finished(instance, run.run_id)
            assert finished.status is RunStatus.SUCCESS, execution
            assert finished.tags[RUN_TASK_TAG] == f"run-{run.run_id}"
            assert instance.run_launcher.check_run_worker_health(finished).value in (
                "RUNNING",
                "DEAD",
            )
    finally:
        celery_fleet.stop_worker("runner")
        instance.dispose()


def test_terminate_stops_the_run_worker_task(celery_fleet, tmp_path):
    runs_queue = f"{celery_fleet.queue}-runs2"
    celery_fleet.start_worker("runner2", queues=[runs_queue], concurrency=1)
    instance = launcher_instance(celery_fleet, runs_queue)
    try:
        pointer = reconstructable(jobs.long_job).pointer
        run = submit_job_run(
            instance,
            pointer,
            "long_job",
            {"execution": {"config": {"in_process": {}}}},
            {"test/marker_dir": str(tmp_path), "test/sleep": "60"},
        )
        deadline = time.monotonic() + 30
        while instance.get_run(run.run_id).status is not RunStatus.STARTED:
            assert time.monotonic() < deadline, "run never started"
            time.sleep(0.1)
        assert instance.run_launcher.terminate(run.run_id)
        finished = wait_finished(instance, run.run_id, timeout=30)
        assert finished.status is RunStatus.FAILURE  # SIGTERM without a cancel request
        last = instance.storage.get_events(run.run_id)[-1]
        assert "interrupted" in last.message
    finally:
        celery_fleet.stop_worker("runner2")
        instance.dispose()
