"""Run workers and Celery step tasks import neither the webserver's stack nor Alembic.

Each check looks at `sys.modules` of the very process that ran the op (the run worker
itself, for the default executor's one-op plan; a Celery pool process), after it opened
an up-to-date storage database and ran a step."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from opgraph import execute_job, reconstructable
from opgraph.code_pointer import load_job
from opgraph.execute import ExecuteJobResult
from opgraph_storage.migration import _scripts, head_revision
from opgraph_storage.records import FINISHED_STATUSES, RunStatus
from tests.executor import import_jobs


def test_the_head_revision_is_alembics():
    assert head_revision() == _scripts().get_current_head()


@pytest.mark.parametrize("warm_start", [False, True], ids=["cold interpreter", "zygote"])
def test_a_run_worker_imports_no_web_package(make_instance, warm_start):
    instance = make_instance(launcher={"subprocess": {"warm_start": warm_start}})
    _ = instance.storage  # the schema exists before the worker opens the database
    pointer = {"python_file": import_jobs.__file__, "attribute": "imports_job"}
    run = instance.create_run("imports_job", code_pointer=pointer)

    instance.submit_run(run.run_id)

    deadline = time.monotonic() + 120
    while (run := instance.get_run(run.run_id)).status not in FINISHED_STATUSES:
        assert time.monotonic() < deadline, f"run is still {run.status.value}"
        time.sleep(0.05)
    log = instance.home / "run_workers" / f"{run.run_id}.log"
    assert run.status is RunStatus.SUCCESS, log.read_text()
    result = ExecuteJobResult(instance, load_job(pointer, "imports_job"), run.run_id)
    assert result.output_for_node("report_imports") == []


def test_the_zygote_preloads_no_web_package(tmp_path):
    script = (
        "from opgraph_launchers.zygote import _preload\n"
        "from tests.executor.import_jobs import web_packages_imported\n"
        "_preload()\n"
        "print(web_packages_imported())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"OPGRAPH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[2],  # the repository: `tests` imports
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.postgres
def test_a_celery_step_imports_no_web_package(celery_fleet):
    run_config = {"execution": {"config": {"celery": {}}}}
    result = execute_job(
        reconstructable(import_jobs.imports_job), celery_fleet.instance, run_config=run_config
    )
    assert result.success
    assert result.output_for_node("report_imports") == []
