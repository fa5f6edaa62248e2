"""Importing a location's code, finding its Definitions, hashing it, locating its errors.

Only the code server process (and tests) import user code; the webserver and daemon
reach it over HTTP.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import sysconfig
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from opgraph.definitions.graph import JobDefinition
from opgraph.definitions_repo import Definitions
from opgraph.errors import DefinitionError
from opgraph.schedules import ScheduleDefinition, SensorDefinition
from opgraph.workspace.base import ErrorInfo

# Our own packages: frames and modules from them are not "user code".
_PLATFORM_PACKAGES = {"opgraph", "storage", "launchers", "celery_executor", "app"}
_ROOT = Path(__file__).resolve().parents[2]
_PLATFORM_DIRS = tuple(f"{_ROOT / name}/" for name in _PLATFORM_PACKAGES)
_LIBRARY_DIRS = tuple(
    path
    for path in {
        str(Path(p).resolve()).rstrip("/") + "/"
        for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()]
    }
    if path != "/"  # a Python installed at / must not make every file a library file
)


class UserCodeError(Exception):
    """The code is there but is not a usable location (no Definitions, several...)."""


@dataclass(frozen=True)
class LoadedCode:
    definitions: Definitions
    attribute: str | None  # the module attribute holding the Definitions, if any
    module: ModuleType
    user_modules: tuple[str, ...]  # names imported by loading it (dropped on reload)


def _is_user_file(filename: str) -> bool:
    if not filename or filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    resolved = str(Path(filename).resolve())
    return not resolved.startswith(_PLATFORM_DIRS) and not resolved.startswith(_LIBRARY_DIRS)


def _is_user_module(name: str, module: ModuleType | None) -> bool:
    if name.split(".")[0] in _PLATFORM_PACKAGES:
        return False
    return _is_user_file(getattr(module, "__file__", None) or "")


def _module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"opgraph_location_{path.stem}_{digest}"


def _import(origin: dict[str, Any]) -> ModuleType:
    working_directory = origin.get("working_directory")
    if working_directory and working_directory not in sys.path:
        sys.path.insert(0, working_directory)
    if origin.get("python_module"):
        return importlib.import_module(origin["python_module"])
    path = Path(origin["python_file"]).resolve()
    if not path.is_file():
        raise UserCodeError(f"python_file {str(path)!r} does not exist")
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling in user code look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def forget(module_names: Iterable[str]) -> None:
    """Drop modules so that the next import runs their (possibly edited) code again."""
    for name in module_names:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def load_user_code(origin: dict[str, Any]) -> LoadedCode:
    """Import the code named by `origin` and find its one Definitions.

    `origin`: {"python_file": path} or {"python_module": name}, optionally with
    "working_directory" and "attribute" (the name of the Definitions in the module).
    """
    before = set(sys.modules)
    module = _import(origin)
    new = tuple(
        name
        for name in sorted(set(sys.modules) - before)
        if _is_user_module(name, sys.modules.get(name))
    )
    if origin.get("python_module"):
        new = tuple(dict.fromkeys([origin["python_module"], *new]))
    definitions, attribute = find_definitions(module, origin.get("attribute"))
    return LoadedCode(definitions, attribute, module, new)


def find_definitions(module: ModuleType, attribute: str | None) -> tuple[Definitions, str | None]:
    where = getattr(module, "__file__", None) or module.__name__
    if attribute:
        value = getattr(module, attribute, None)
        if not isinstance(value, Definitions):
            raise UserCodeError(
                f"{where}: attribute {attribute!r} should be a Definitions, "
                f"given {type(value).__name__}"
            )
        return value, attribute
    found = {name: v for name, v in vars(module).items() if isinstance(v, Definitions)}
    if len(found) == 1:
        [(name, definitions)] = found.items()
        return definitions, name
    if len(found) > 1:
        raise UserCodeError(
            f"{where} defines several Definitions ({', '.join(sorted(found))}); a code location "
            "holds one: name it with `attribute:` in workspace.yaml"
        )
    # No Definitions: the module's jobs, schedules and sensors make an implied one.
    values = list(vars(module).values())
    jobs = [v for v in values if isinstance(v, JobDefinition)]
    schedules = [v for v in values if isinstance(v, ScheduleDefinition)]
    sensors = [v for v in values if isinstance(v, SensorDefinition)]
    if not (jobs or schedules or sensors):
        raise UserCodeError(
            f"{where} defines no Definitions and no jobs; add `defs = Definitions(jobs=[...])`"
        )
    try:
        return Definitions(jobs=jobs, schedules=schedules, sensors=sensors), None
    except DefinitionError as exc:
        raise UserCodeError(f"{where}: {exc}") from exc


def code_version(files: Iterable[str]) -> str:
    """Hash of the contents of the location's source files: the location's version."""
    digest = hashlib.sha256()
    for file in sorted(set(files)):
        digest.update(file.encode() + b"\0")
        try:
            digest.update(Path(file).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def source_files(origin: dict[str, Any], module_names: Iterable[str]) -> list[str]:
    files = [str(Path(origin["python_file"]).resolve())] if origin.get("python_file") else []
    for name in module_names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).is_file():
            files.append(str(Path(file).resolve()))
    return files


def error_info(exc: BaseException) -> ErrorInfo:
    """The error with its traceback, and the user file and line it points at."""
    file: str | None = None
    line: int | None = None
    if isinstance(exc, SyntaxError) and exc.filename:
        file, line = exc.filename, exc.lineno
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if _is_user_file(frame.filename):
                file, line = frame.filename, frame.lineno
                break
    return ErrorInfo(
        message=f"{type(exc).__name__}: {exc}",
        traceback=_user_traceback(exc),
        file=str(Path(file).resolve()) if file else None,
        line=line,
        error_class=type(exc).__name__,
    )


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first user frame on: our loader's frames are noise there."""
    summary = traceback.TracebackException.from_exception(exc)
    frames = list(summary.stack)
    first = next((i for i, frame in enumerate(frames) if _is_user_file(frame.filename)), 0)
    summary.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(summary.format())
