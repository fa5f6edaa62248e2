"""Code pointers: where a run worker (or Celery worker) loads a job from.

{"python_file": "/abs/jobs.py", "attribute": "my_job", "working_directory": "/abs"}
{"python_module": "my_pkg.jobs", "attribute": "defs"}
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from opgraph.errors import CodePointerError

_loaded_files: dict[tuple[str, float], ModuleType] = {}


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"opgraph_user_code_{path.stem}_{digest}"


def load_module(pointer: dict[str, Any]) -> ModuleType:
    working_directory = pointer.get("working_directory")
    if working_directory and working_directory not in sys.path:
        sys.path.insert(0, working_directory)
    if "python_module" in pointer:
        try:
            return importlib.import_module(pointer["python_module"])
        except Exception as exc:
            raise CodePointerError(
                f"could not import module {pointer['python_module']!r}: {type(exc).__name__}: {exc}"
            ) from exc
    if "python_file" not in pointer:
        raise CodePointerError(f"code pointer needs python_file or python_module, got {pointer!r}")
    path = Path(pointer["python_file"]).resolve()
    if not path.is_file():
        raise CodePointerError(f"job file {str(path)!r} does not exist")
    cache_key = (str(path), path.stat().st_mtime)
    if cache_key in _loaded_files:
        return _loaded_files[cache_key]
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so pickling and dataclasses in user code work
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise CodePointerError(f"error loading {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    _loaded_files[cache_key] = module
    return module


def find_job(module: ModuleType, job_name: str | None, attribute: str | None = None) -> Any:
    """The job named `job_name` in a module (directly, or inside a Definitions)."""
    from opgraph.definitions.graph import JobDefinition
    from opgraph.definitions_repo import Definitions

    where = getattr(module, "__file__", None) or module.__name__
    if attribute:
        target = getattr(module, attribute, None)
        if isinstance(target, JobDefinition) and job_name in (None, target.name):
            return target
        if isinstance(target, Definitions):
            return target.get_job_def(job_name) if job_name else target.only_job()
    jobs: dict[str, JobDefinition] = {}
    for value in list(vars(module).values()):
        if isinstance(value, Definitions):
            jobs.update({job.name: job for job in value.jobs})
    for value in list(vars(module).values()):
        if isinstance(value, JobDefinition):
            jobs.setdefault(value.name, value)
    if job_name is None:
        if len(jobs) == 1:
            return next(iter(jobs.values()))
        raise CodePointerError(f"{where} defines jobs {sorted(jobs)}; choose one with -j/--job")
    if job_name not in jobs:
        raise CodePointerError(f"no job named {job_name!r} in {where}; it defines {sorted(jobs)}")
    return jobs[job_name]


def load_job(pointer: dict[str, Any], job_name: str | None = None) -> Any:
    return find_job(load_module(pointer), job_name, pointer.get("attribute"))


@dataclass(frozen=True)
class ReconstructableJob:
    """A job plus where to load it from again in another process (Dagster's reconstructable)."""

    pointer: dict[str, Any]
    job_name: str

    def get_definition(self) -> Any:
        return load_job(self.pointer, self.job_name)


def reconstructable(job: Any) -> ReconstructableJob:
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
