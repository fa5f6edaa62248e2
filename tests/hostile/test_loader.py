"""The loader's contract in one process: sys.path and sys.meta_path as they were, no user
module left in sys.modules, files named like the standard library shadow nothing, one
location active at a time."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from opgraph.code_pointer import load_job, reconstructable
from opgraph.user_code import Location, UserCodeError, location_of, running


def _origin(root: Path) -> dict[str, str]:
    return {"python_file": str(root / "jobs.py"), "working_directory": str(root)}


def test_loading_and_running_leave_the_interpreter_as_it_was(shared_locations):
    path, meta_path = list(sys.path), list(sys.meta_path)
    jobs = {name: load_job(_origin(root), "shared") for name, root in shared_locations.items()}
    for name, job in jobs.items():
        with running(job):
            import helpers  # what an op's lazy import finds while its location runs

            assert f"helpers of {name}" == helpers.WHO
        assert "helpers" not in sys.modules
    assert (sys.path, sys.meta_path) == (path, meta_path)
    assert not {"helpers", "utils", "pkg", "pkg.sub", "reporting"} & set(sys.modules)
    # The same pointer again: the same location (cached on its code version), and a
    # reconstructable job points at it.
    alpha = jobs["alpha"]
    assert load_job(_origin(shared_locations["alpha"]), "shared") is alpha
    assert reconstructable(alpha).pointer == _origin(shared_locations["alpha"])


def test_a_file_named_like_the_standard_library_shadows_nothing(tmp_path):
    (tmp_path / "json.py").write_text("RAISE = 1 / 0\n")
    (tmp_path / "jobs.py").write_text(
        "import json\n\nfrom opgraph import job, op\n\n\n@op\ndef dumps():\n"
        "    return json.dumps([1])\n\n\n@job\ndef uses_json():\n    dumps()\n"
    )
    job = load_job(_origin(tmp_path), "uses_json")
    assert job.execute_in_process().output_for_node("dumps") == json.dumps([1])


def test_another_location_in_the_same_thread_is_refused(shared_locations):
    alpha = location_of(load_job(_origin(shared_locations["alpha"]), "shared"))
    beta = location_of(load_job(_origin(shared_locations["beta"]), "shared"))
    assert alpha is not None and beta is not None
    with alpha.active(), pytest.raises(UserCodeError, match="leave one location"), beta.active():
        pass


def test_a_thread_runs_another_location_only_once_the_active_one_is_left(shared_locations):
    alpha = Location(_origin(shared_locations["alpha"]))
    beta = Location(_origin(shared_locations["beta"]))
    alpha.load(), beta.load()
    order: list[str] = []
    trying = threading.Event()

    def run_beta() -> None:
        trying.set()
        with beta.active():
            import helpers

            order.append(f"beta entered, sees {helpers.WHO}")

    with alpha.active():
        thread = threading.Thread(target=run_beta)
        thread.start()
        assert trying.wait(30)
        import helpers

        order.append(f"alpha leaves, saw {helpers.WHO}")
    thread.join(30)
    assert order == ["alpha leaves, saw helpers of alpha", "beta entered, sees helpers of beta"]


def test_a_namespace_package_and_a_module_added_after_loading(tmp_path):
    (tmp_path / "nspkg").mkdir()
    (tmp_path / "nspkg" / "mod.py").write_text('WHO = "nspkg.mod of this location"\n')
    (tmp_path / "jobs.py").write_text(
        "from opgraph import job, op\n\n\n@op\ndef o():\n    pass\n\n\n@job\ndef j():\n    o()\n"
    )
    job = load_job(_origin(tmp_path), "j")
    (tmp_path / "late.py").write_text('WHO = "late of this location"\n')
    with running(job):
        import late
        import nspkg.mod

        assert (nspkg.mod.WHO, late.WHO) == ("nspkg.mod of this location", "late of this location")
    assert not {"nspkg", "nspkg.mod", "late"} & set(sys.modules)
    location = location_of(job)
    assert location is not None and {"nspkg", "nspkg.mod", "late"} <= set(location.modules)
