"""The one loader of user code: each code location imports into a module table of its own.

A location is a job file (or module) with its working directory. Its imports resolve
against its own directories through a meta-path finder that exists only while the
location is active, never through `sys.path`, which nothing here changes. The modules it
imports live in its own table and sit in `sys.modules` only while it is active: while its
code loads, while its ops run (so an import inside an op finds the location's module), and
while its schedules and sensors are evaluated. Two locations that both have a `helpers.py`
thus each get their own, in any process that serves both (a Celery worker, the in-process
workspace, a test).

One location is active in a process at a time; threads of the same location share the
activation, a thread that wants another location waits until the active one is left.
Installed packages (site-packages), the standard library and opgraph are shared by every
location in the process: a location that needs another version of a package runs in a
process of its own interpreter (docs/code-locations.md).

A location's **version** is a hash of its source files (the job file and every module in
its table). `location_for(pointer)` keeps one loaded location per origin in a process and
loads it again, into a fresh table, when that hash changes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import sysconfig
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

from opgraph.definitions.graph import JobDefinition
from opgraph.definitions_repo import Definitions
from opgraph.errors import CodePointerError, DefinitionError
from opgraph.schedules import ScheduleDefinition, SensorDefinition

_ROOT = Path(__file__).resolve().parents[1]
_LIBRARY_DIRS = tuple(
    path
    for path in {
        str(Path(p).resolve()).rstrip("/") + "/"
        for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()]
    }
    if path != "/"  # a Python installed at / must not make every file a library file
)


@functools.cache
def platform_packages() -> frozenset[str]:
    """Import names that are never a location's: the core's own and those installed with it
    (its distribution's top_level.txt; read, so that the core names none of them)."""
    own = __name__.partition(".")[0]
    try:
        listed = importlib.metadata.distribution(own).read_text("top_level.txt") or ""
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        listed = ""
    return frozenset({own, *listed.split()})


@functools.cache
def _platform_dirs() -> tuple[str, ...]:
    """Where those packages' files are (an editable install keeps them in the source tree)."""
    found = {f"{_ROOT / __name__.partition('.')[0]}/"}
    for name in platform_packages():
        try:
            spec = importlib.util.find_spec(name)  # finds, does not import
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.add(f"{Path(location).resolve()}/")
    return tuple(sorted(found))


class UserCodeError(CodePointerError):
    """The code is there but is not a usable location (no Definitions, several...)."""


def is_user_file(filename: str) -> bool:
    """A file of user code: not opgraph's, not the standard library's or an installed one."""
    if not filename or filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    resolved = str(Path(filename).resolve())
    return not resolved.startswith(_platform_dirs()) and not resolved.startswith(_LIBRARY_DIRS)


def _top(name: str) -> str:
    return name.partition(".")[0]


def _module_names_in(directories: Sequence[str]) -> frozenset[str]:
    """Top-level modules and regular packages in the location's directories, minus names of
    the standard library and of opgraph (those are never a location's, as with `python -P`
    a script's directory does not shadow them)."""
    names: set[str] = set()
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file():
                names.add(entry.name[:-3])
            elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.add(entry.name)
    return frozenset(
        name
        for name in names
        if name.isidentifier()
        and name not in platform_packages()
        and name not in sys.stdlib_module_names
    )


class _LocationFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in one location's directories. First in `sys.meta_path` for
    the names the location owns; last for any other name (a namespace package in its
    directory, a file added since it loaded), so installed packages keep their names."""

    def __init__(self, location: Location, owned_only: bool):
        self.location = location
        self.owned_only = owned_only

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname:  # submodules: their package's __path__
            return None
        if self.owned_only and fullname not in self.location.owned:
            return None
        if fullname in platform_packages():
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, list(self.location.directories))


class Location:
    """One code location's code in this process: its directories, its module table, the
    module its origin names, and the version of the code it loaded."""

    def __init__(self, origin: Mapping[str, Any]):
        self.origin = {key: value for key, value in origin.items() if value is not None}
        file = self.origin.get("python_file")
        module_name = self.origin.get("python_module")
        if not (file or module_name):
            raise CodePointerError(
                f"code pointer needs python_file or python_module, got {dict(origin)!r}"
            )
        directories = []
        if self.origin.get("working_directory"):
            directories.append(str(Path(self.origin["working_directory"]).resolve()))
        if file:
            self.path: Path | None = Path(file).resolve()
            directories.append(str(self.path.parent))
            digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:10]
            self.main_name = f"opgraph_location_{self.path.stem}_{digest}"
        else:
            self.path = None
            self.main_name = str(module_name)
        self.directories = tuple(dict.fromkeys(directories))
        _platform_dirs()  # found now, never in the middle of a swap
        owned = set(_module_names_in(self.directories))
        if module_name and _top(module_name) not in platform_packages():
            owned.add(_top(module_name))  # an installed package a location names is its own
        self.owned = frozenset(owned)
        self.modules: dict[str, ModuleType] = {}
        self.module: ModuleType | None = None
        self.version: str | None = None
        self._finders = (_LocationFinder(self, True), _LocationFinder(self, False))
        self._stashed: dict[str, ModuleType] = {}
        self._before: set[str] = set()

    def __repr__(self) -> str:
        return f"Location({self.path or self.main_name!s})"

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> ModuleType:
        """Import the origin's module into this location's table; raises what user code raised."""
        with self.active():
            if self.path is None:
                module = importlib.import_module(self.main_name)
            else:
                if not self.path.is_file():
                    raise CodePointerError(f"job file {str(self.path)!r} does not exist")
                spec = importlib.util.spec_from_file_location(self.main_name, self.path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[self.main_name] = module  # dataclasses and pickle look it up
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(self.main_name, None)
                    raise
        self.module = module
        self.version = code_version(self.source_files())
        return module

    def source_files(self) -> list[str]:
        """The job file and the file of every module in the location's table."""
        files = [str(self.path)] if self.path else []
        for module in self.modules.values():
            file = getattr(module, "__file__", None)
            if file and os.path.isfile(file):
                files.append(str(Path(file).resolve()))
        return files

    def current_version(self) -> str:
        """The version of the code on disk now (the files this location loaded)."""
        return code_version(self.source_files())

    # -- activation ----------------------------------------------------------------------------
    @contextmanager
    def active(self) -> Iterator[Location]:
        """The location's modules in `sys.modules` and its finders in `sys.meta_path`."""
        _enter(self)
        try:
            yield self
        finally:
            _leave(self)

    def _belongs(self, name: str, module: ModuleType | None) -> bool:
        top = _top(name)
        if top in platform_packages():
            return False
        if top in self.owned or name == self.main_name:
            return True
        # Found in the location's directories (a file added since it loaded, a namespace
        # package), and not a library that happens to live there (a virtualenv in it).
        file = getattr(module, "__file__", None)
        spec = getattr(module, "__spec__", None)
        paths = [file] if file else list(getattr(spec, "submodule_search_locations", None) or ())
        inside = tuple(f"{directory}/" for directory in self.directories)
        return any(is_user_file(p) and str(Path(p).resolve()).startswith(inside) for p in paths)

    def _swap_in(self) -> None:
        # Another copy of a name this location owns stays out while it is active. (This
        # and _swap_out each walk sys.modules once: ~0.1 ms for 600 modules on this machine.)
        owned, own = self.owned, self.modules
        for name in [n for n in sys.modules if n.partition(".")[0] in owned or n in own]:
            module = sys.modules.pop(name, None)
            if module is not None:
                self._stashed[name] = module
        sys.modules.update(self.modules)
        sys.meta_path.insert(0, self._finders[0])
        sys.meta_path.append(self._finders[1])
        self._before = set(sys.modules)

    def _swap_out(self) -> None:
        for finder in self._finders:
            for index, installed in enumerate(sys.meta_path):
                if installed is finder:
                    del sys.meta_path[index]
                    break
        before = self._before
        for name in [name for name in list(sys.modules) if name not in before]:
            module = sys.modules.get(name)
            if self._belongs(name, module):
                self.modules[name] = sys.modules.pop(name)  # type: ignore[assignment]
        for name, module in list(self.modules.items()):
            current = sys.modules.get(name)
            if current is not None and current is not module:  # user code replaced it
                self.modules[name] = current
            sys.modules.pop(name, None)
        sys.modules.update(self._stashed)
        self._stashed = {}
        self._before = set()


# -- one active location per process ------------------------------------------------------------
_switch = threading.Condition()
_active: Location | None = None
_holders = 0
_thread = threading.local()


def _enter(location: Location) -> None:
    global _active, _holders
    stack: list[Location] = getattr(_thread, "stack", None) or []
    _thread.stack = stack
    if any(held is not location for held in stack):
        raise UserCodeError(
            f"{location!r} was entered while {stack[-1]!r} is active in the same thread; "
            "leave one location before running another's code"
        )
    with _switch:
        while _active is not None and _active is not location:
            _switch.wait()
        if _active is None:
            location._swap_in()
            _active = location
        _holders += 1
    stack.append(location)


def _leave(location: Location) -> None:
    global _active, _holders
    _thread.stack.pop()
    with _switch:
        _holders -= 1
        if _holders == 0:
            location._swap_out()
            _active = None
            _switch.notify_all()


def active_location() -> Location | None:
    return _active


# -- locations by origin, and the jobs they hold ------------------------------------------------
_loaded: dict[tuple[str | None, str | None, str | None], Location] = {}
_loading = threading.Lock()
_job_locations: weakref.WeakKeyDictionary[Any, Location] = weakref.WeakKeyDictionary()


def _origin_key(origin: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    file = origin.get("python_file")
    directory = origin.get("working_directory")
    return (
        str(Path(file).resolve()) if file else None,
        origin.get("python_module"),
        str(Path(directory).resolve()) if directory else None,
    )


def location_for(origin: Mapping[str, Any]) -> Location:
    """The location loaded from `origin` in this process, loaded again (into a fresh
    table) when its code version changed. Errors of the user's code come out as
    CodePointerError naming the file."""
    key = _origin_key(origin)
    with _loading:
        location = _loaded.get(key)
        if location is not None and location.current_version() == location.version:
            return location
        location = Location(origin)
        try:
            location.load()
        except CodePointerError:
            raise
        except Exception as exc:
            what = type(exc).__name__
            if location.path is None:
                message = f"could not import module {location.main_name!r}: {what}: {exc}"
            else:
                message = f"error loading {str(location.path)!r}: {what}: {exc}"
            raise CodePointerError(message) from exc
        _loaded[key] = location
        return location


def remember(location: Location, definitions: Iterable[Any]) -> None:
    """Note that these jobs belong to `location` (for `running`)."""
    for definition in definitions:
        _job_locations[definition] = location


def location_of(job: Any) -> Location | None:
    try:
        return _job_locations.get(job)
    except TypeError:  # not weak-referenceable: not loaded by us
        return None


def running(job: Any) -> Any:
    """Activate the location a job was loaded from while its code runs; a job defined in
    the caller's own modules (execute_in_process in a script or test) needs nothing."""
    location = location_of(job)
    return location.active() if location is not None else nullcontext()


# -- what a location holds -----------------------------------------------------------------------
def find_definitions(module: ModuleType, attribute: str | None) -> tuple[Definitions, str | None]:
    """The location's one Definitions (or the one its module-level definitions imply), and
    the attribute that holds it."""
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


def find_job(module: ModuleType, job_name: str | None, attribute: str | None = None) -> Any:
    """The job named `job_name` in a module (directly, or inside a Definitions)."""
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
        # A run of some assets of an asset job is recorded as `job[a~b,c]`.
        for value in list(vars(module).values()):
            if isinstance(value, Definitions) and value.asset_repo.is_subset_name(job_name):
                return value.get_job_def(job_name)
        raise CodePointerError(f"no job named {job_name!r} in {where}; it defines {sorted(jobs)}")
    return jobs[job_name]


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
