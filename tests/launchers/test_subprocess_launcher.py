"""The subprocess launcher against the real run worker (`python -m opgraph.run_worker`)."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from opgraph.instance import OpgraphInstance
from opgraph.ports import RUN_WORKER_HOST_TAG, RUN_WORKER_PID_TAG, RunStatusError
from opgraph_launchers import subprocess_launcher
from opgraph_launchers.subprocess_launcher import SubprocessRunLauncher
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunStatus


def event_types(instance: OpgraphInstance, run_id: str) -> list[str]:
    return [event.event_type for event in instance.storage.get_events(run_id)]


JOBS = """
import os
import subprocess
import time
from pathlib import Path

from opgraph import job, op


@op
def hello():
    return 1


@job
def hello_job():
    hello()


@op
def nap():
    time.sleep(120)


@job
def sleepy_job():
    nap()


@op
def nap_recording_pid():
    (Path(__file__).parent / "op.pid").write_text(str(os.getpid()))
    time.sleep(120)


@job
def recorded_nap_job():
    nap_recording_pid()


@op
def starts_a_command():
    # Like an op running a shell tool: the command is a child the op does not wait for.
    command = subprocess.Popen(["sleep", "300"])
    (Path(__file__).parent / "op.pid").write_text(str(command.pid))
    time.sleep(120)


@job
def command_job():
    starts_a_command()


@op
def records_niceness():
    (Path(__file__).parent / "op.nice").write_text(str(os.nice(0)))


@job
def niceness_job():
    records_niceness()
"""


@pytest.fixture
def instance(make_instance) -> OpgraphInstance:
    instance = make_instance(launcher={"subprocess": {"terminate_grace_seconds": 5}})
    assert isinstance(instance.run_launcher, SubprocessRunLauncher)
    return instance


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "code" / "jobs.py"
    path.parent.mkdir()
    path.write_text(JOBS)
    return path


def create(
    instance: OpgraphInstance, jobs_file: Path, job_name: str, run_config: dict | None = None
) -> RunRecord:
    pointer = {
        "python_file": str(jobs_file),
        "attribute": job_name,
        "working_directory": str(jobs_file.parent),
    }
    return instance.create_run(job_name, code_pointer=pointer, run_config=run_config)


def wait_for(instance: OpgraphInstance, run_id: str, statuses, timeout: float = 60) -> RunRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run(run_id)
        if run.status in statuses:
            return run
        time.sleep(0.1)
    log = instance.home / "run_workers" / f"{run_id}.log"
    worker_output = log.read_text() if log.exists() else "(no log)"
    raise AssertionError(
        f"run {run_id} is {run.status.value}, not in {statuses}\nworker log:\n{worker_output}"
    )


def eventually(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_launch_runs_the_job_in_a_subprocess(instance, jobs_file):
    run = create(instance, jobs_file, "hello_job")

    launched = instance.launch_run(run.run_id)

    assert launched.status is RunStatus.STARTING
    assert launched.tags[RUN_WORKER_HOST_TAG] == socket.gethostname()
    assert int(launched.tags[RUN_WORKER_PID_TAG]) > 0
    finished = wait_for(instance, run.run_id, FINISHED_STATUSES)
    assert finished.status is RunStatus.SUCCESS, event_types(instance, run.run_id)
    assert event_types(instance, run.run_id)[0] == "RUN_STARTING"
    assert (instance.home / "run_workers" / f"{run.run_id}.log").exists()
    # The worker exits right after writing RUN_SUCCESS.
    assert eventually(lambda: instance.run_launcher.check_run_worker_health(finished) == "DEAD")


def test_terminate_kills_the_worker(instance, jobs_file):
    run = create(instance, jobs_file, "sleepy_job")
    launcher = instance.run_launcher
    launched = launcher.launch_run(run)
    wait_for(instance, run.run_id, {RunStatus.STARTED})
    assert launcher.check_run_worker_health(launched) == "RUNNING"

    assert launcher.terminate(run.run_id) is True

    assert launcher.check_run_worker_health(launched) == "DEAD"
    assert launcher.terminate(run.run_id) is False


def test_a_run_is_launched_once(instance, jobs_file):
    run = create(instance, jobs_file, "hello_job")
    instance.launch_run(run.run_id)
    with pytest.raises(RunStatusError, match="only NOT_STARTED or QUEUED runs can be launched"):
        instance.launch_run(run.run_id)
    wait_for(instance, run.run_id, FINISHED_STATUSES)


def test_failure_to_start_fails_the_run(instance, jobs_file, monkeypatch):
    monkeypatch.setattr(subprocess_launcher.sys, "executable", "/nonexistent/python3")
    run = create(instance, jobs_file, "hello_job")

    failed = instance.launch_run(run.run_id)

    assert failed.status is RunStatus.FAILURE
    events = instance.storage.get_events(run.run_id)
    assert [e.event_type for e in events] == ["RUN_STARTING", "RUN_FAILURE"]
    assert "Could not start the run worker" in events[-1].message
    assert "/nonexistent/python3" in events[-1].message


def test_a_recycled_pid_is_not_killed(instance, jobs_file):
    """A pid tag that now names another process (here: a sleeping child) is left alone."""
    run = create(instance, jobs_file, "hello_job")
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        instance.storage.add_run_tags(
            run.run_id,
            {RUN_WORKER_PID_TAG: str(other.pid), RUN_WORKER_HOST_TAG: socket.gethostname()},
        )
        run = instance.get_run(run.run_id)
        assert instance.run_launcher.check_run_worker_health(run) == "DEAD"
        assert instance.run_launcher.terminate(run.run_id) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_health_is_unknown_without_a_local_pid(instance, jobs_file):
    run = create(instance, jobs_file, "hello_job")
    assert instance.run_launcher.check_run_worker_health(run) == "UNKNOWN"
    instance.storage.add_run_tags(
        run.run_id, {RUN_WORKER_PID_TAG: str(os.getpid()), RUN_WORKER_HOST_TAG: "elsewhere"}
    )
    assert instance.run_launcher.check_run_worker_health(instance.get_run(run.run_id)) == "UNKNOWN"
    assert instance.run_launcher.terminate(run.run_id) is False


# -- warm start (zygote) and cold start -------------------------------------------------------
def test_workers_are_forked_from_the_zygote_and_named_by_pid_and_start_time(instance, jobs_file):
    from opgraph.ports import RUN_WORKER_START_TAG
    from opgraph.process_lifetime import process_start_time

    launcher = instance.run_launcher
    assert launcher.warm_start
    first = launcher.launch_run(create(instance, jobs_file, "sleepy_job"))
    second = launcher.launch_run(create(instance, jobs_file, "hello_job"))

    zygote = launcher._zygote._process
    assert zygote is not None and zygote.poll() is None  # one warm parent served both
    pid = int(first.tags[RUN_WORKER_PID_TAG])
    assert first.tags[RUN_WORKER_START_TAG] == process_start_time(pid)
    assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1] == str(zygote.pid)
    assert os.getsid(pid) == pid  # its own session: terminate() reaches its children
    assert wait_for(instance, second.run_id, FINISHED_STATUSES).status is RunStatus.SUCCESS
    wait_for(instance, first.run_id, {RunStatus.STARTED})
    assert launcher.check_run_worker_health(first) == "RUNNING"
    assert launcher.terminate(first.run_id) is True
    assert launcher.check_run_worker_health(first) == "DEAD"


def test_a_start_time_that_does_not_match_is_another_process(instance, jobs_file):
    from opgraph.ports import RUN_WORKER_START_TAG

    run = create(instance, jobs_file, "hello_job")
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        instance.storage.add_run_tags(
            run.run_id,
            {
                RUN_WORKER_PID_TAG: str(other.pid),
                RUN_WORKER_HOST_TAG: socket.gethostname(),
                RUN_WORKER_START_TAG: "1",  # the worker started at another time
            },
        )
        run = instance.get_run(run.run_id)
        assert instance.run_launcher.check_run_worker_health(run) == "DEAD"
        assert instance.run_launcher.terminate(run.run_id) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("warm_start", [True, False])
def test_run_workers_and_their_ops_run_at_the_configured_niceness(
    make_instance, jobs_file, warm_start
):
    launcher = {"subprocess": {"worker_niceness": 7, "warm_start": warm_start}}
    instance = make_instance(launcher=launcher)
    run = instance.launch_run(create(instance, jobs_file, "niceness_job").run_id)
    assert wait_for(instance, run.run_id, FINISHED_STATUSES).status is RunStatus.SUCCESS
    assert int((jobs_file.parent / "op.nice").read_text()) == os.nice(0) + 7


def test_cold_start_without_warm_start(make_instance, jobs_file):
    instance = make_instance(launcher={"subprocess": {"warm_start": False}})
    run = instance.launch_run(create(instance, jobs_file, "hello_job").run_id)
    assert instance.run_launcher._zygote is None
    assert wait_for(instance, run.run_id, FINISHED_STATUSES).status is RunStatus.SUCCESS


def test_a_broken_zygote_falls_back_to_a_cold_start(instance, jobs_file, monkeypatch):
    from opgraph_launchers import warm_start

    monkeypatch.setattr(warm_start, "ZYGOTE_MODULE", "opgraph_launchers.no_such_module")
    run = instance.launch_run(create(instance, jobs_file, "hello_job").run_id)
    assert wait_for(instance, run.run_id, FINISHED_STATUSES).status is RunStatus.SUCCESS
    log = (instance.home / "run_workers" / f"{run.run_id}.log").read_text()
    assert "warm start unavailable" in log


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent's reaping is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _op_pid(jobs_file: Path) -> int:
    pid_file = jobs_file.parent / "op.pid"
    assert eventually(pid_file.exists, 30), "the op never started"
    assert eventually(lambda: pid_file.read_text().strip().isdigit())
    return int(pid_file.read_text())


def test_multiprocess_ops_die_with_a_sigkilled_run_worker(instance, jobs_file):
    config = {"execution": {"config": {"multiprocess": {"max_concurrent": 1}}}}
    run = instance.launch_run(create(instance, jobs_file, "recorded_nap_job", config).run_id)
    op_pid = _op_pid(jobs_file)
    worker_pid = int(instance.get_run(run.run_id).tags[RUN_WORKER_PID_TAG])
    assert op_pid != worker_pid  # the op runs in an executor process
    os.kill(worker_pid, signal.SIGKILL)
    # Without anyone calling terminate(): a resumed worker must not meet the old op.
    assert eventually(lambda: not _pid_alive(op_pid), 10), "the op outlived its run worker"


def test_terminate_kills_what_a_dead_worker_left_in_its_group(instance, jobs_file):
    run = instance.launch_run(create(instance, jobs_file, "command_job").run_id)
    command_pid = _op_pid(jobs_file)
    worker_pid = int(instance.get_run(run.run_id).tags[RUN_WORKER_PID_TAG])
    os.kill(worker_pid, signal.SIGKILL)
    assert eventually(lambda: not _pid_alive(worker_pid))
    time.sleep(0.5)
    assert _pid_alive(command_pid)  # a plain child does not die with its parent
    assert instance.run_launcher.terminate(run.run_id) is False  # no worker to stop...
    assert eventually(lambda: not _pid_alive(command_pid)), "the orphaned command lives on"
