"""Several locations loaded into this one process (the in-process workspace): each runs its
own helpers, and none of them is left in sys.modules or on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from opgraph.workspace.base import LocationState
from opgraph.workspace.in_process import InProcessCodeLocation
from tests.hostile.conftest import FACTORS
from tests.hostile.projects import PLATFORM_NAMES, expected_platform_named, expected_shared, reports

USER_NAMES = ("helpers", "utils", "pkg", "pkg.sub", "reporting", *PLATFORM_NAMES)


def _location(name: str, root: Path) -> InProcessCodeLocation:
    origin = {"python_file": str(root / "jobs.py"), "working_directory": str(root)}
    location = InProcessCodeLocation(name, origin)
    assert location.status().state is LocationState.LOADED, location.status().error
    return location


def _run(location: InProcessCodeLocation, job_name: str) -> dict[str, dict]:
    result = location._job(job_name).execute_in_process()
    assert result.success
    return reports(result.instance.storage.get_events(result.run_id))


def test_two_locations_with_the_same_module_names_each_run_their_own(shared_locations):
    path_before = list(sys.path)
    alpha = _location("alpha", shared_locations["alpha"])
    beta = _location("beta", shared_locations["beta"])
    assert alpha.status().version != beta.status().version
    for location in (alpha, beta, alpha, beta):  # back and forth in one process
        name = location.name
        assert _run(location, "shared") == expected_shared(name, FACTORS[name])
        tick = location.evaluate_schedule("hourly", scheduled_time=1.7e9)
        assert tick.error is None
        assert tick.run_requests[0].tags == {
            "seen/helpers": f"helpers of {name}",
            "seen/sub": f"pkg.sub of {name}",
        }
    assert sys.path == path_before
    assert not [name for name in USER_NAMES if name in sys.modules]


def test_a_reload_after_an_edit_runs_the_edited_helpers(shared_locations):
    alpha = _location("alpha", shared_locations["alpha"])
    beta = _location("beta", shared_locations["beta"])
    old = alpha.status().version
    helpers = shared_locations["alpha"] / "helpers.py"
    helpers.write_text(helpers.read_text().replace("x * 2", "x * 20"))
    assert alpha.reload().version != old
    assert _run(alpha, "shared")["open_box"]["scaled"] == 140
    assert _run(beta, "shared")["open_box"]["scaled"] == 21


def test_a_project_named_like_the_platform(platform_named, shared_locations):
    project = _location("project", platform_named)
    alpha = _location("alpha", shared_locations["alpha"])
    expected = expected_platform_named()
    seen = _run(project, "hostile")
    assert seen["at_import"] == expected["at_import"]
    lazily = {k: v for k, v in seen["lazily"].items() if k not in ("safe_path", "cwd_on_path")}
    assert lazily == {**expected["at_import"], "same_as_at_import": True}
    assert seen["lazily"]["cwd_on_path"] is False or "" not in sys.path
    # `utils` is the project's in its own location and alpha's in alpha's.
    assert _run(alpha, "shared")["make_box"]["utils"] == "utils of alpha"
    tick = project.evaluate_sensor("hostile_sensor")
    assert tick.error is None
    assert tick.run_requests[0].tags == {
        "seen/app": "project app.py",
        "seen/utils": "project utils.py",
    }
    # The platform's own modules are untouched by the project's files.
    import opgraph_app
    import opgraph_storage

    assert Path(opgraph_app.__file__).resolve().parent.name == "app"
    assert Path(opgraph_storage.__file__).resolve().parent.name == "storage"


def test_an_in_process_workspace_of_all_three(platform_named, shared_locations, tmp_path):
    from opgraph.workspace import load_workspace

    roots = {**shared_locations, "project": platform_named}
    workspace = tmp_path / "workspace.yaml"
    entries = [
        {
            "python_file": {
                "relative_path": str(root / "jobs.py"),
                "location_name": name,
                "working_directory": str(root),
            }
        }
        for name, root in roots.items()
    ]
    workspace.write_text(yaml.safe_dump({"load_from": entries}))
    with load_workspace(workspace, tmp_path, in_process=True) as loaded:
        for name in shared_locations:
            location = loaded.get(name)
            assert location.status().state is LocationState.LOADED, location.status().error
            tick = location.evaluate_schedule("hourly", scheduled_time=1.7e9)
            assert tick.run_requests[0].tags["seen/helpers"] == f"helpers of {name}"
        tick = loaded.get("project").evaluate_sensor("hostile_sensor")
        assert tick.run_requests[0].tags["seen/utils"] == "project utils.py"
