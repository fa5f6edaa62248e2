"""A Celery pool process loads the code locations the fleet loaded last before its first
task, and a location whose code changed since is loaded as it is now."""

import threading

import pytest
import yaml

from opgraph import OpgraphInstance
from opgraph_celery import warmup, worker_state

JOBS = """
from opgraph import job, op


@op
def one():
    return {value}


@job
def one_op():
    one()
"""


@pytest.fixture
def home(tmp_path, monkeypatch, sqlite_url):
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": sqlite_url}}))
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    monkeypatch.setattr(worker_state, "_state", None)  # as in a fresh pool process
    yield tmp_path
    state = worker_state._state
    if state is not None:
        state.instance.dispose()


def test_recent_locations_keep_the_newest_first_once_each(home):
    instance = OpgraphInstance.get(home)
    storage = instance.storage
    for name in ["a", "b", "a", "c", "d", "e"]:
        entry = {"pointer": {"python_file": f"/{name}.py"}, "job_name": name, "run_id": name}
        worker_state.note_recent_location(storage, entry)
    names = [entry["job_name"] for entry in worker_state.recent_locations(storage)]
    assert names == ["e", "d", "c", "a"]  # MAX_RECENT_LOCATIONS, "a" once
    instance.dispose()


def test_a_step_notes_its_location_for_the_next_pool_process(home):
    (home / "jobs.py").write_text(JOBS.format(value=1))
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    run = instance.create_run("one_op", code_pointer=pointer)

    state = worker_state.worker_state()
    state.environment(run.run_id)
    state.notes.join()
    [entry] = worker_state.recent_locations(instance.storage)
    assert entry == {"pointer": pointer, "job_name": "one_op", "run_id": run.run_id}
    instance.dispose()


def test_a_location_already_newest_is_not_noted_again(home):
    (home / "jobs.py").write_text(JOBS.format(value=1))
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    older = instance.create_run("one_op", code_pointer=pointer)
    entry = {"pointer": pointer, "job_name": "one_op", "run_id": older.run_id}
    worker_state.note_recent_location(instance.storage, entry)
    other = {"pointer": {"python_file": "/elsewhere.py"}, "job_name": "x", "run_id": "x"}

    state = worker_state.worker_state()
    assert warmup.warm_recent_locations(state, deadline=float("inf")) == ["one_op"]
    state.environment(instance.create_run("one_op", code_pointer=pointer).run_id)
    state.notes.put(other)  # written after anything the step would have noted
    state.notes.join()
    assert worker_state.recent_locations(instance.storage) == [other, entry]
    instance.dispose()


def test_after_the_warm_up_a_step_starts_no_thread(home):
    (home / "jobs.py").write_text(JOBS.format(value=1))
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(home / "jobs.py"), "attribute": "one_op"}
    warmup.warm_pool_process(budget_seconds=600)
    state = worker_state.worker_state()
    before = set(threading.enumerate())
    state.environment(instance.create_run("one_op", code_pointer=pointer).run_id)
    state.keeper.add("an-attempt", NoLiveEvents())
    state.keeper.remove("an-attempt")
    state.notes.join()
    assert not set(threading.enumerate()) - before
    instance.dispose()


class NoLiveEvents:
    def flush_live(self, older_than: float) -> None:
        pass


def test_an_unreadable_entry_warms_nothing_and_fails_nothing(home):
    instance = OpgraphInstance.get(home)
    instance.storage.kv_set(worker_state.RECENT_LOCATIONS_KEY, "{not json")
    assert worker_state.recent_locations(instance.storage) == []
    instance.storage.kv_set(worker_state.RECENT_LOCATIONS_KEY, '[{"job_name": "x"}, 3]')
    assert worker_state.recent_locations(instance.storage) == []
    instance.dispose()


def test_a_fresh_process_loads_the_recent_location_and_sees_a_change(home):
    jobs, imports = home / "jobs.py", home / "imports.txt"
    # Each import of the job file leaves a line: how many times the location loaded.
    counted = f"open({str(imports)!r}, 'a').write('loaded\\n')\n"
    jobs.write_text(counted + JOBS.format(value=1))
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(jobs), "attribute": "one_op"}
    run = instance.create_run("one_op", code_pointer=pointer)
    worker_state.note_recent_location(
        instance.storage, {"pointer": pointer, "job_name": "one_op", "run_id": run.run_id}
    )

    state = worker_state.worker_state()
    assert warmup.warm_recent_locations(state, deadline=float("inf")) == ["one_op"]
    assert imports.read_text().count("loaded") == 1
    state.environment(instance.create_run("one_op", code_pointer=pointer).run_id)
    assert imports.read_text().count("loaded") == 1  # the step found it loaded

    # The code changed after the warm-up: the next run's step loads it as it is now.
    jobs.write_text(counted + JOBS.format(value=2))
    state.environment(instance.create_run("one_op", code_pointer=pointer).run_id)
    assert imports.read_text().count("loaded") == 2
    instance.dispose()


def test_a_job_that_no_longer_loads_is_left_to_its_step(home):
    jobs = home / "jobs.py"
    jobs.write_text("raise ImportError('the warehouse is down')\n")
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(jobs), "attribute": "one_op"}
    entry = {"pointer": pointer, "job_name": "one_op", "run_id": "gone"}
    worker_state.note_recent_location(instance.storage, entry)
    assert warmup.warm_recent_locations(worker_state.worker_state(), float("inf")) == []
    instance.dispose()
