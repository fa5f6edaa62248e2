"""The in-process code location: the engine of every code server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from workspace_code import BROKEN, small_jobs

from opgraph.code_pointer import load_job
from opgraph.workspace.base import (
    CodeLocationError,
    DefinitionNotFound,
    LocationState,
)
from opgraph.workspace.in_process import InProcessCodeLocation

Write = Callable[[str, str], Path]


def test_location_from_a_file(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    status = location.status()
    assert status.state is LocationState.LOADED and status.error is None
    assert status.origin == {"python_file": str(jobs_file)}
    assert len(status.version or "") == 12
    assert sorted(location.job_names()) == ["hello_job", "input_job"]


def test_location_from_a_module_in_a_package(write: Write, tmp_path: Path) -> None:
    write("pkg_one/__init__.py", "")
    write("pkg_one/helpers.py", "VALUE = 7\n")
    write(
        "pkg_one/jobs.py",
        small_jobs("module_job").replace(
            "from opgraph", "from pkg_one.helpers import VALUE\nfrom opgraph"
        ),
    )
    origin = {"python_module": "pkg_one.jobs", "working_directory": str(tmp_path)}
    location = InProcessCodeLocation("pkg", origin)
    assert location.status().state is LocationState.LOADED, location.status().error
    assert location.job_names() == ["module_job"]
    pointer = location.code_pointer("module_job")
    assert pointer == {**origin, "attribute": "defs"}
    assert load_job(pointer, "module_job").name == "module_job"

    # the version covers the helper module too: editing it changes the version
    before = location.version
    write("pkg_one/helpers.py", "VALUE = 8\n")
    assert location.reload().version != before


def test_code_pointer_loads_the_same_job_in_a_run_worker(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    pointer = location.code_pointer("hello_job")
    assert pointer == {"python_file": str(jobs_file), "attribute": "defs"}
    job = load_job(pointer, "hello_job")
    assert job.name == "hello_job" and "db" in job.resource_defs  # bound by Definitions
    with pytest.raises(DefinitionNotFound, match=r"has no job 'nope'; it has \['hello_job'"):
        location.code_pointer("nope")


def test_broken_location_shows_file_line_and_traceback(write: Write) -> None:
    path = write("broken.py", BROKEN)
    location = InProcessCodeLocation("broken", {"python_file": str(path)})
    status = location.status()
    assert status.state is LocationState.ERROR
    assert status.error is not None
    assert status.error.file == str(path) and status.error.line == 10
    assert status.error.message == "RuntimeError: this job file is broken"
    assert status.error.traceback.startswith("Traceback (most recent call last):\n  File")
    assert f'File "{path}", line 10' in status.error.traceback
    assert "opgraph/workspace" not in status.error.traceback  # only the user's frames
    assert status.version  # a broken file still has a version: edits show
    with pytest.raises(CodeLocationError, match=rf"did not load: {path}:10: RuntimeError"):
        location.jobs()


def test_syntax_error_points_at_its_line(write: Write) -> None:
    path = write("syntax.py", "from opgraph import job\n\n\ndef oops(:\n    pass\n")
    status = InProcessCodeLocation("syntax", {"python_file": str(path)}).status()
    assert status.error is not None
    assert (status.error.file, status.error.line) == (str(path), 4)
    assert status.error.error_class == "SyntaxError"


def test_bad_definitions_error_points_at_the_user_line(write: Write) -> None:
    source = small_jobs().replace(
        "defs = Definitions(jobs=[small_job])",
        "defs = Definitions(jobs=[small_job], schedules=[1])",
    )
    status = InProcessCodeLocation("bad", {"python_file": str(write("bad.py", source))}).status()
    assert status.state is LocationState.ERROR and status.error is not None
    assert status.error.line == 15  # the Definitions(...) line


def test_missing_file_and_no_definitions(write: Write, tmp_path: Path) -> None:
    missing = InProcessCodeLocation("missing", {"python_file": str(tmp_path / "nope.py")})
    assert missing.status().error is not None
    assert "nope.py' does not exist" in missing.status().error.message
    empty = InProcessCodeLocation("empty", {"python_file": str(write("empty.py", "X = 1\n"))})
    assert empty.status().error is not None
    assert "defines no Definitions and no jobs" in empty.status().error.message


def test_several_definitions_need_an_attribute(write: Write) -> None:
    source = small_jobs() + "\nother = Definitions(jobs=[])\n"
    path = str(write("two.py", source))
    status = InProcessCodeLocation("two", {"python_file": path}).status()
    assert status.error is not None
    assert "defines several Definitions (defs, other)" in status.error.message
    chosen = InProcessCodeLocation("two", {"python_file": path, "attribute": "defs"})
    assert chosen.job_names() == ["small_job"]
    assert chosen.code_pointer("small_job")["attribute"] == "defs"


def test_module_level_jobs_without_definitions(write: Write) -> None:
    source = small_jobs().replace("defs = Definitions(jobs=[small_job])", "")
    location = InProcessCodeLocation("bare", {"python_file": str(write("bare.py", source))})
    assert location.job_names() == ["small_job"]
    assert "attribute" not in location.code_pointer("small_job")


def test_validate_run_config_lists_every_problem_by_path(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    errors = location.validate_run_config(
        "hello_job",
        {
            "ops": {"greet": {"config": {"name": 3, "nick": "x"}}, "limit": {"config": 1}},
            "resources": {"nope": {}},
        },
    )
    assert errors == [
        "ops.greet.config.name: expected str, got 3",
        "ops.greet.config.times: required field missing",
        "ops.greet.config.nick: unknown field",
        "resources.nope: job 'hello_job' has no resource 'nope'; expected one of ['db', 'io_manager']",
    ]
    assert (
        location.validate_run_config(
            "hello_job", {"ops": {"greet": {"config": {"times": 1}}, "limit": {"config": 1}}}
        )
        == []
    )
    # inputs that only run config can give are checked too
    assert location.validate_run_config("input_job", {}) == [
        "ops.lonely.inputs.x: input 'x' of op 'lonely' is not connected to an upstream output "
        "and has no default; give it in run config"
    ]


def test_schedule_evaluation_uses_its_timezone(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    scheduled = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC).timestamp()
    tick = location.evaluate_schedule("hourly", scheduled)
    assert tick.error is None and tick.skip_message is None
    [request] = tick.run_requests
    assert request.run_key == "2026-01-05T10:00:00+01:00"  # Europe/Paris
    assert request.run_config == {"ops": {"limit": {"config": 10}}}
    assert request.tags == {"kind": "hourly"}


def test_schedule_that_raises_gives_an_error_tick(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    tick = location.evaluate_schedule("failing", 0)
    assert tick.run_requests == ()
    assert tick.error is not None
    assert tick.error.message == "ValueError: schedule function failed"
    assert tick.error.file == str(jobs_file)
    assert "raise ValueError" in tick.error.traceback
    assert location.status().state is LocationState.LOADED  # the location is unharmed
    with pytest.raises(
        DefinitionNotFound, match=r"no schedule 'nope'; it has \['failing', 'hourly'\]"
    ):
        location.evaluate_schedule("nope", 0)


def test_sensor_evaluation_with_cursor(jobs_file: Path) -> None:
    location = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    first = location.evaluate_sensor("watcher", None, None)
    assert [r.run_key for r in first.run_requests] == ["k0"]
    assert first.run_requests[0].tags == {"n": "0"}
    assert first.cursor == "1"
    second = location.evaluate_sensor("watcher", first.cursor, "k0")
    assert second.run_requests == () and second.skip_message == "odd tick 1"
    assert second.cursor == "2"


def test_run_request_that_is_not_json_is_an_error_tick(write: Write) -> None:
    source = small_jobs() + (
        "\nfrom opgraph import RunRequest, sensor\n\n\n"
        "@sensor(job=small_job)\ndef odd(context):\n"
        "    return RunRequest(run_config={'ops': {'step': object()}})\n\n\n"
        "defs = Definitions(jobs=[small_job], sensors=[odd])\n"
    )
    location = InProcessCodeLocation("odd", {"python_file": str(write("odd.py", source))})
    tick = location.evaluate_sensor("odd")
    assert tick.error is not None
    assert "run request 0: run_config is not JSON" in tick.error.message


def test_reload_after_editing_the_file(write: Write) -> None:
    path = write("edited.py", small_jobs("first_job"))
    location = InProcessCodeLocation("edited", {"python_file": str(path)})
    first_version = location.version
    assert location.job_names() == ["first_job"]
    write("edited.py", small_jobs("second_job"))
    status = location.reload()
    assert status.state is LocationState.LOADED
    assert status.version != first_version
    assert location.job_names() == ["second_job"]
    write("edited.py", BROKEN)
    broken = location.reload()
    assert broken.state is LocationState.ERROR and broken.version not in (
        first_version,
        status.version,
    )
    write("edited.py", small_jobs("first_job"))
    assert location.reload().version == first_version  # the version is the code's hash
