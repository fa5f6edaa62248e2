"""A run worker that dies before its run started fails the run, with no daemon running.

Real run workers, forked from the zygote (warm) or started as new interpreters (cold).
Every test waits on the run's status, never on the clock.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opgraph.instance import OpgraphInstance
from opgraph.ports import RUN_WORKER_PID_TAG
from opgraph.worker_exit import describe_exit, early_exit_message, log_tail
from opgraph_launchers import subprocess_launcher
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunStatus

JOBS = """
import os
import sys
import time
from pathlib import Path

import warehouse_client  # noqa: F401  (raises in the run worker only)

from opgraph import job, op

if "run_worker" in sys.argv[0] and os.environ.get("OPGRAPH_TEST_HANG_ON_IMPORT"):
    # Loading takes long enough for the test to kill the worker while the run is STARTING.
    print("loading the jobs module", file=sys.stderr, flush=True)
    Path(os.environ["OPGRAPH_TEST_HANG_ON_IMPORT"]).write_text(str(os.getpid()))
    time.sleep(600)


@op
def hello():
    return 1


@job
def hello_job():
    hello()
"""

# A module that imports in the launching process but not in a run worker (as one that
# needs a VPN, a credential or a native library only some machines have).
WAREHOUSE_CLIENT = """
import os
import sys

if "run_worker" in sys.argv[0] and os.environ.get("OPGRAPH_TEST_BREAK_WAREHOUSE"):
    raise ImportError("warehouse_client cannot reach the warehouse (VPN down?)")
"""

BAD_INTERPRETER = """#!/bin/sh
echo "python3: error while loading shared libraries: libpython3.11.so.1.0: cannot open \
shared object file: No such file or directory" >&2
exit 127
"""


@pytest.fixture(params=["warm", "cold"])
def instance(request, make_instance) -> OpgraphInstance:
    warm_start = request.param == "warm"
    return make_instance(launcher={"subprocess": {"warm_start": warm_start}})


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "warehouse_client.py").write_text(WAREHOUSE_CLIENT)
    path = code / "jobs.py"
    path.write_text(JOBS)
    return path


def create(instance: OpgraphInstance, jobs_file: Path) -> RunRecord:
    pointer = {
        "python_file": str(jobs_file),
        "attribute": "hello_job",
        "working_directory": str(jobs_file.parent),
    }
    return instance.create_run("hello_job", code_pointer=pointer)


RUN_END_EVENTS = {"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"}


def worker_log(instance: OpgraphInstance, run_id: str) -> str:
    log = instance.home / "run_workers" / f"{run_id}.log"
    return log.read_text() if log.exists() else "(no log)"


def wait_finished(instance: OpgraphInstance, run_id: str, timeout: float = 60) -> RunRecord:
    """Poll until the run's end event is stored (the status moves a moment before it is
    logged); the bound only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not RUN_END_EVENTS & {e.event_type for e in instance.storage.get_events(run_id)}:
        if time.monotonic() > deadline:
            status = instance.get_run(run_id).status.value
            log = worker_log(instance, run_id)
            raise AssertionError(f"run {run_id} is still {status}\nworker log:\n{log}")
        time.sleep(0.05)
    run = instance.get_run(run_id)
    assert run.status in FINISHED_STATUSES
    return run


def wait_for_file(path: Path, instance: OpgraphInstance, run_id: str, timeout: float = 60) -> str:
    """What the worker wrote to `path` while loading the job (it then hangs there)."""
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        run = instance.get_run(run_id)
        if run.status in FINISHED_STATUSES or time.monotonic() > deadline:
            log = worker_log(instance, run_id)
            raise AssertionError(f"{path} not written; run is {run.status.value}, log:\n{log}")
        time.sleep(0.05)
    return path.read_text()


def the_run(instance: OpgraphInstance, timeout: float = 60) -> RunRecord:
    """The one run of the instance, once another process has created it."""
    deadline = time.monotonic() + timeout
    while not (runs := instance.storage.get_runs()):
        assert time.monotonic() < deadline, "no run was created"
        time.sleep(0.05)
    [run] = runs
    return run


def failure_message(instance: OpgraphInstance, run_id: str) -> str:
    events = instance.storage.get_events(run_id)
    [failure] = [event for event in events if event.event_type == "RUN_FAILURE"]
    assert next(e.event_type for e in events if e.event_type.startswith("RUN_")) == "RUN_STARTING"
    return failure.message


def test_a_job_that_does_not_import_in_the_worker_fails_with_its_error(
    instance, jobs_file, monkeypatch
):
    monkeypatch.setenv("OPGRAPH_TEST_BREAK_WAREHOUSE", "1")
    run = instance.launch_run(create(instance, jobs_file).run_id)
    assert run.status is RunStatus.STARTING

    assert wait_finished(instance, run.run_id).status is RunStatus.FAILURE
    # The worker could import opgraph: it reports the error itself, as one RUN_FAILURE.
    assert "warehouse_client cannot reach the warehouse" in failure_message(instance, run.run_id)


def test_a_worker_killed_before_the_run_started_fails_the_run(
    instance, jobs_file, tmp_path, monkeypatch
):
    marker = tmp_path / "loading.pid"
    monkeypatch.setenv("OPGRAPH_TEST_HANG_ON_IMPORT", str(marker))
    run = instance.launch_run(create(instance, jobs_file).run_id)
    pid = int(wait_for_file(marker, instance, run.run_id))
    assert pid == int(run.tags[RUN_WORKER_PID_TAG])
    assert instance.get_run(run.run_id).status is RunStatus.STARTING

    os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer does

    assert wait_finished(instance, run.run_id).status is RunStatus.FAILURE
    message = failure_message(instance, run.run_id)
    assert message.startswith(f"The run worker (pid {pid}) was killed by SIGKILL")
    assert "loading the jobs module" in message  # the end of its log


def test_a_bad_interpreter_fails_the_run_with_its_error(instance, jobs_file, tmp_path, monkeypatch):
    interpreter = tmp_path / "python3"
    interpreter.write_text(BAD_INTERPRETER)
    interpreter.chmod(0o755)
    monkeypatch.setattr(subprocess_launcher.sys, "executable", str(interpreter))

    run = instance.launch_run(create(instance, jobs_file).run_id)

    assert wait_finished(instance, run.run_id).status is RunStatus.FAILURE
    message = failure_message(instance, run.run_id)
    assert "exited with code 127 before the run started: python3: error while loading" in message


def test_the_zygote_records_the_failure_after_the_launching_cli_exited(
    make_instance, jobs_file, tmp_path
):
    """`opgraph runs launch` without --wait exits at once; the zygote that forked the
    worker outlives it and fails the run when the worker dies."""
    instance = make_instance(launcher={"subprocess": {}})
    marker = tmp_path / "loading.pid"
    env = {**os.environ, "OPGRAPH_HOME": str(instance.home)}
    env["OPGRAPH_TEST_HANG_ON_IMPORT"] = str(marker)
    opgraph = Path(sys.executable).with_name("opgraph")
    launched = subprocess.run(
        [str(opgraph), "runs", "launch", "-f", str(jobs_file), "hello_job"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert launched.returncode == 0, launched.stderr
    [run] = instance.storage.get_runs()
    pid = int(wait_for_file(marker, instance, run.run_id))

    os.kill(pid, signal.SIGKILL)

    assert wait_finished(instance, run.run_id).status is RunStatus.FAILURE
    assert "was killed by SIGKILL" in failure_message(instance, run.run_id)


def test_describe_exit():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGKILL).startswith("was killed by SIGKILL (the out-of-memory")
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"


def test_the_message_names_the_last_line_and_keeps_the_tail(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {n}\n" for n in range(1000)) + "ValueError: boom\n")
    tail = log_tail(log)
    assert tail.endswith("line 999\nValueError: boom")
    assert "line 1\n" not in tail

    message = early_exit_message(42, 1, log)
    assert message.splitlines()[0] == (
        "The run worker (pid 42) exited with code 1 before the run started: ValueError: boom"
    )
    assert early_exit_message(42, 1, tmp_path / "missing.log").endswith(
        f"it wrote nothing to {tmp_path / 'missing.log'}."
    )


# -- what people see: `runs launch --wait`, GraphQL -------------------------------------------
def _opgraph(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("opgraph")), *args]


def test_launch_wait_prints_the_workers_own_error(make_instance, jobs_file, tmp_path):
    instance = make_instance(launcher={"subprocess": {}})
    env = {**os.environ, "OPGRAPH_HOME": str(instance.home), "OPGRAPH_TEST_BREAK_WAREHOUSE": "1"}
    command = _opgraph("runs", "launch", "-f", str(jobs_file), "hello_job", "--wait")

    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "finished: FAILURE" in done.stdout
    assert "run failed: Could not load job 'hello_job'" in done.stdout
    assert "warehouse_client cannot reach the warehouse" in done.stdout


def test_launch_wait_prints_why_a_killed_worker_died(make_instance, jobs_file, tmp_path):
    instance = make_instance(launcher={"subprocess": {}})
    marker = tmp_path / "loading.pid"
    env = {**os.environ, "OPGRAPH_HOME": str(instance.home)}
    env["OPGRAPH_TEST_HANG_ON_IMPORT"] = str(marker)
    command = _opgraph("runs", "launch", "-f", str(jobs_file), "hello_job", "--wait")
    waiting = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        os.kill(int(wait_for_file(marker, instance, the_run(instance).run_id)), signal.SIGKILL)
        output, _ = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
        waiting.wait()

    assert waiting.returncode == 1, output
    assert "finished: FAILURE" in output
    assert "run failed: The run worker (pid" in output
    assert "was killed by SIGKILL" in output
    assert "loading the jobs module" in output


LAUNCH = """
mutation {
  launchRun(executionParams: {selector: {locationName: "tests", jobName: "hello_job"}}) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}
"""
RUN = """
query($id: String!) {
  runOrError(runId: $id) { ... on Run { status failureMessage } }
  logsForRun(runId: $id) { ... on EventConnection { events { eventType message } } }
}
"""


@pytest.mark.postgres
def test_graphql_launch_then_polling_shows_why_the_worker_died(tmp_path, pg_storage_url):
    """The webserver's zygote watches the worker it forked for a launchRun."""
    from tests.web_server import Webserver, make_home

    home = make_home(tmp_path, pg_storage_url)
    code = tmp_path / "code"
    (code / "jobs.py").write_text(JOBS)
    (code / "warehouse_client.py").write_text(WAREHOUSE_CLIENT)
    marker = tmp_path / "loading.pid"
    server = Webserver(home, env={"OPGRAPH_TEST_HANG_ON_IMPORT": str(marker)})
    try:
        launched = server.gql(LAUNCH)["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        instance = OpgraphInstance.get(home)
        try:
            os.kill(int(wait_for_file(marker, instance, run_id)), signal.SIGKILL)
        finally:
            instance.dispose()

        deadline = time.monotonic() + 60
        while (answer := server.gql(RUN, {"id": run_id}))["runOrError"]["status"] != "FAILURE":
            assert time.monotonic() < deadline, (answer, server.output())
            time.sleep(0.1)
    finally:
        server.stop()

    failure = answer["runOrError"]["failureMessage"]
    assert failure.startswith("The run worker (pid ")
    assert "was killed by SIGKILL" in failure
    assert "loading the jobs module" in failure
    events = answer["logsForRun"]["events"]
    assert [e["message"] for e in events if e["eventType"] == "RUN_FAILURE"] == [failure]


def test_runs_show_prints_the_error_of_a_run_that_never_started(make_instance, tmp_path):
    from opgraph.run_lifecycle import mark_starting
    from opgraph.worker_exit import record_early_exit
    from opgraph_app import create_app

    instance = make_instance()
    run = instance.create_run("hello_job")
    mark_starting(instance, run, "Starting a run worker subprocess.")
    log = tmp_path / "worker.log"
    log.write_text("Traceback (most recent call last):\nImportError: no warehouse_client\n")
    record_early_exit(instance, run.run_id, 7, -signal.SIGKILL, log)

    result = create_app(instance).test_cli_runner().invoke(args=["runs", "show", run.run_id])

    assert result.exit_code == 0, result.output
    errors = result.output.split("Steps: none started yet\nErrors:\n")[1].splitlines()
    assert errors[0].startswith("  (run): The run worker (pid 7) was killed by SIGKILL")
    assert errors[-1] == "    ImportError: no warehouse_client"
