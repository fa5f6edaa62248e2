"""A one-op run of the default executor runs in its run worker's process; canceling it
(SAFE) stops the op in flight, as the multiprocess pool stops its process."""

import time

from opgraph.run_lifecycle import cancel_run
from opgraph_storage.records import FINISHED_STATUSES, RunStatus

JOBS = """
import pathlib
import time

from opgraph import job, op


@op
def nap():
    pathlib.Path(__file__).with_name("started").write_text("")
    time.sleep(600)  # blocked in a system call: the cancel has to wake it
    pathlib.Path(__file__).with_name("woke").write_text("")


@job
def sleepy():
    nap()
"""


def wait_for(condition, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_canceling_a_serial_run_stops_its_op(make_instance, tmp_path):
    instance = make_instance(launcher={"subprocess": {}})
    code = tmp_path / "code"
    code.mkdir()
    (code / "jobs.py").write_text(JOBS)
    pointer = {"python_file": str(code / "jobs.py"), "attribute": "sleepy"}
    run = instance.create_run("sleepy", code_pointer=pointer)
    instance.submit_run(run.run_id)
    wait_for((code / "started").exists, "the op to start")

    assert cancel_run(instance, run.run_id)  # SAFE: the run goes CANCELING

    log = instance.home / "run_workers" / f"{run.run_id}.log"
    wait_for(lambda: instance.get_run(run.run_id).status in FINISHED_STATUSES, "the run to end")
    assert instance.get_run(run.run_id).status is RunStatus.CANCELED, log.read_text()
    [failure] = instance.storage.get_events(run.run_id, event_types=["STEP_FAILURE"])
    assert failure.step_key == "nap" and "interrupted" in (failure.message or "")
    assert not (code / "woke").exists()
