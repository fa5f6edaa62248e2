"""User projects written to test directories: module names that collide with opgraph's
folders and with each other, each returning values only its own files hold.

Every op reports what it saw as one LOG event, "report {json}", so a test reads the same
thing whichever process ran the op (run worker, multiprocess child, Celery worker).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

# A project named like the platform's folders (and like common helpers).
PLATFORM_NAMES = ("app", "storage", "launchers", "celery_executor", "config", "utils")

REPORT_PREFIX = "report "

_REPORTER = """
import json as _json


def report(context, **values):
    context.log.info("report " + _json.dumps(values, sort_keys=True))
    return values
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def platform_named_project(root: Path) -> Path:
    """jobs.py beside app.py, storage.py, launchers.py, celery_executor.py, config.py and
    utils.py, each importable by the jobs (at import and lazily inside an op)."""
    files = {f"{name}.py": f'WHO = "project {name}.py"\n' for name in PLATFORM_NAMES}
    # If anything of the platform imported these instead of its own, it would fail loudly.
    files["app.py"] += (
        "\n\ndef create_app():\n"
        '    raise RuntimeError("the platform imported the project\'s app.py")\n'
    )
    files["storage.py"] += (
        "\n\nclass SqlStorage:  # a name the platform's storage has too\n    pass\n"
    )
    files["reporting.py"] = _REPORTER
    files["jobs.py"] = f"""
    import importlib
    import os
    import sys

    import app
    import celery_executor
    import config
    import launchers
    import storage
    import utils
    from reporting import report

    from opgraph import DefaultSensorStatus, Definitions, RunRequest, job, op, sensor

    NAMES = {list(PLATFORM_NAMES)!r}


    @op
    def at_import(context) -> dict:
        modules = (app, storage, launchers, celery_executor, config, utils)
        return report(context, **{{m.__name__: m.WHO for m in modules}})


    @op
    def lazily(context, seen: dict) -> dict:
        values = {{name: importlib.import_module(name).WHO for name in NAMES}}
        return report(
            context,
            same_as_at_import=values == seen,
            safe_path=bool(sys.flags.safe_path),
            cwd_on_path=os.getcwd() in sys.path or "" in sys.path,
            **values,
        )


    @job
    def hostile():
        lazily(at_import())


    @sensor(job=hostile, minimum_interval_seconds=1, default_status=DefaultSensorStatus.RUNNING)
    def hostile_sensor(context):
        if context.cursor:
            return None
        context.update_cursor("done")
        return RunRequest(run_key="once", tags={{"seen/app": app.WHO, "seen/utils": utils.WHO}})


    defs = Definitions(jobs=[hostile], sensors=[hostile_sensor])
    """
    return _write(root, files)


def shared_names_location(root: Path, name: str, factor: int) -> Path:
    """Location `name`: helpers.py, utils.py and a package pkg/ whose names every other
    location of the same kind uses too, with contents only this one has. The job (named
    `shared` in every location) passes a helpers.Box between its ops (pickled by the IO
    manager, unpickled by the next step, maybe in another process) and imports pkg.sub
    lazily inside an op."""
    return _write(
        root,
        {
            "helpers.py": f"""
            from dataclasses import dataclass

            WHO = "helpers of {name}"


            @dataclass
            class Box:
                who: str


            def scale(x):
                return x * {factor}
            """,
            "utils.py": f'WHO = "utils of {name}"\n',
            "pkg/__init__.py": "",
            "pkg/sub.py": f'WHO = "pkg.sub of {name}"\n',
            "reporting.py": _REPORTER,
            "jobs.py": f'''
            import helpers
            import utils
            from reporting import report

            from opgraph import Definitions, RunRequest, job, op, schedule

            LOCATION = "{name}"


            @op
            def make_box(context) -> helpers.Box:
                report(context, location=LOCATION, helpers=helpers.WHO, utils=utils.WHO)
                return helpers.Box(helpers.WHO)


            @op
            def open_box(context, box) -> int:
                import helpers as late  # lazily, inside the op
                import pkg.sub

                return report(
                    context,
                    location=LOCATION,
                    box=box.who,
                    box_is_own_class=isinstance(box, late.Box),
                    helpers=late.WHO,
                    utils=utils.WHO,
                    sub=pkg.sub.WHO,
                    scaled=late.scale(7),
                )["scaled"]


            @job
            def shared():
                open_box(make_box())


            @schedule(cron_schedule="0 * * * *", job=shared)
            def hourly(context):
                import pkg.sub

                return RunRequest(tags={{"seen/helpers": helpers.WHO, "seen/sub": pkg.sub.WHO}})


            defs = Definitions(jobs=[shared], schedules=[hourly])
            ''',
        },
    )


def pinned_location(root: Path, name: str) -> Path:
    """A location whose op (and schedule) report the version of the installed package
    `pinlib`, imported where it is used: the run worker that only builds the plan never
    needs it, the process that runs the op (its own interpreter's) does."""
    return _write(
        root,
        {
            "reporting.py": _REPORTER,
            "jobs.py": f'''
            from reporting import report

            from opgraph import Definitions, RunRequest, job, op, schedule


            @op
            def which_pinlib(context) -> str:
                import sys

                import pinlib

                return report(
                    context, location="{name}", pinlib=pinlib.__version__, prefix=sys.prefix
                )["pinlib"]


            @job
            def pinned():
                which_pinlib()


            @schedule(cron_schedule="0 * * * *", job=pinned)
            def hourly(context):
                import pinlib

                return RunRequest(tags={{"pinlib": pinlib.__version__}})


            defs = Definitions(jobs=[pinned], schedules=[hourly])
            ''',
        },
    )


def reports(events: list[Any]) -> dict[str, dict[str, Any]]:
    """step key -> what the op reported, from a run's events."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        message = getattr(event, "message", "") or ""
        if event.event_type == "LOG" and message.startswith(REPORT_PREFIX):
            found[event.step_key] = json.loads(message[len(REPORT_PREFIX) :])
    return found


def expected_shared(name: str, factor: int) -> dict[str, dict[str, Any]]:
    return {
        "make_box": {
            "location": name,
            "helpers": f"helpers of {name}",
            "utils": f"utils of {name}",
        },
        "open_box": {
            "location": name,
            "box": f"helpers of {name}",
            "box_is_own_class": True,
            "helpers": f"helpers of {name}",
            "utils": f"utils of {name}",
            "sub": f"pkg.sub of {name}",
            "scaled": 7 * factor,
        },
    }


def expected_platform_named() -> dict[str, dict[str, Any]]:
    values = {name: f"project {name}.py" for name in PLATFORM_NAMES}
    return {
        "at_import": values,
        "lazily": {**values, "same_as_at_import": True, "safe_path": True, "cwd_on_path": False},
    }
