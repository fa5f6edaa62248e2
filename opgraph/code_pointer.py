"""Code pointers: where a run worker (or Celery worker) loads a job from.

{"python_file": "/abs/jobs.py", "attribute": "my_job", "working_directory": "/abs"}
{"python_module": "my_pkg.jobs", "attribute": "defs"}
plus, for a run of some ops only, "op_selection": ["*op", ...] (opgraph.op_selection).

The code itself is imported by `opgraph.user_code`, into the module table of the pointer's
code location; the job remembers its location, and `opgraph.user_code.running(job)`
activates it while the job's code runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opgraph.errors import CodePointerError
from opgraph.user_code import find_job, location_for, location_of, remember


def load_job(pointer: dict[str, Any], job_name: str | None = None) -> Any:
    """The job, from the pointer's location as loaded in this process (again when its
    code version changed)."""
    location = location_for(pointer)
    assert location.module is not None
    job = find_job(location.module, job_name, pointer.get("attribute"))
    if pointer.get("op_selection"):  # a run of some ops only (opgraph.op_selection)
        job = job.get_subset(pointer["op_selection"])
    remember(location, [job])
    return job


@dataclass(frozen=True)
class ReconstructableJob:
    """A job plus where to load it from again in another process (Dagster's reconstructable)."""

    pointer: dict[str, Any]
    job_name: str

    def get_definition(self) -> Any:
        return load_job(self.pointer, self.job_name)

    def get_subset(self, op_selection: list[str]) -> ReconstructableJob:
        """The same job, run with only these ops (opgraph.op_selection) wherever it loads."""
        return ReconstructableJob(
            {**self.pointer, "op_selection": list(op_selection)}, self.job_name
        )


def reconstructable(job: Any) -> ReconstructableJob:
    location = location_of(job)
    if location is not None:  # loaded from a location: the same pointer again
        origin: dict[str, Any] = {
            key: location.origin[key]
            for key in ("python_file", "python_module", "working_directory", "attribute")
            if key in location.origin
        }
        return ReconstructableJob(origin, job.name)
    file = getattr(job, "defining_file", None)
    if not file:
        raise CodePointerError(
            f"job {job.name!r} was not defined in a file; define it at module level in a .py file"
        )
    module = sys.modules.get(job.defining_module or "")
    attribute = None
    if module is not None:
        attribute = next((k for k, v in vars(module).items() if v is job), None)
    pointer = {"python_file": str(Path(file).resolve()), "working_directory": str(Path.cwd())}
    if attribute:
        pointer["attribute"] = attribute
    return ReconstructableJob(pointer, job.name)
