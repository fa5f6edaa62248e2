"""One real `celery worker` process serving several code locations: every step runs its
own location's modules, whatever ran in that process before it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

os.environ.setdefault("OPGRAPH_TEST_QUEUE_SUFFIX", uuid.uuid4().hex[:8])

from opgraph import execute_job
from opgraph.code_pointer import ReconstructableJob
from tests.hostile.conftest import FACTORS
from tests.hostile.projects import expected_platform_named, expected_shared, reports


def _pointer(root: Path, job_name: str) -> ReconstructableJob:
    return ReconstructableJob(
        {"python_file": str(root / "jobs.py"), "working_directory": str(root)}, job_name
    )


def _run_on(fleet, queue: str, root: Path, job_name: str) -> list:
    config = {"execution": {"config": {"celery": {"default_queue": queue}}}}
    result = execute_job(_pointer(root, job_name), fleet.instance, run_config=config)
    events = fleet.instance.storage.get_events(result.run_id)
    assert result.success, [e.message for e in events if e.level == "ERROR"]
    return events


def _step_pids(events: list) -> set[int]:
    return {e.data["pid"] for e in events if e.event_type == "STEP_START"}


def test_one_pool_process_runs_each_location_with_its_own_modules(
    celery_fleet, shared_locations, platform_named
):
    queue = f"{celery_fleet.queue}-solo"
    celery_fleet.start_worker("solo", [queue], concurrency=1)  # one pool process: every step
    try:
        pids: set[int] = set()
        for name in ("alpha", "beta", "alpha", "beta"):
            events = _run_on(celery_fleet, queue, shared_locations[name], "shared")
            assert reports(events) == expected_shared(name, FACTORS[name]), name
            pids |= _step_pids(events)
        events = _run_on(celery_fleet, queue, platform_named, "hostile")
        assert reports(events) == expected_platform_named()
        pids |= _step_pids(events)
        events = _run_on(celery_fleet, queue, shared_locations["alpha"], "shared")
        assert reports(events) == expected_shared("alpha", FACTORS["alpha"])
        pids |= _step_pids(events)
        assert len(pids) == 1, pids
    finally:
        celery_fleet.stop_worker("solo")


def test_an_edited_location_is_loaded_again_by_a_warm_worker(celery_fleet, shared_locations):
    queue = f"{celery_fleet.queue}-edits"
    celery_fleet.start_worker("edits", [queue], concurrency=1)
    try:
        alpha = shared_locations["alpha"]
        first = reports(_run_on(celery_fleet, queue, alpha, "shared"))
        assert first["open_box"]["scaled"] == 14
        helpers = alpha / "helpers.py"
        helpers.write_text(helpers.read_text().replace("x * 2", "x * 200"))
        # A new run in the same warm process: the location's code version changed.
        second = reports(_run_on(celery_fleet, queue, alpha, "shared"))
        assert second["open_box"]["scaled"] == 1400
        beta = reports(_run_on(celery_fleet, queue, shared_locations["beta"], "shared"))
        assert beta["open_box"]["scaled"] == 21
        # This process reads an output back: the pickled Box loads as alpha's own class.
        config = {"execution": {"config": {"celery": {"default_queue": queue}}}}
        result = execute_job(_pointer(alpha, "shared"), celery_fleet.instance, run_config=config)
        box = result.output_for_node("make_box")
        assert (type(box).__name__, box.who) == ("Box", "helpers of alpha")
    finally:
        celery_fleet.stop_worker("edits")
