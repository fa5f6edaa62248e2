"""workspace.yaml: which code locations there are and where their code lives.

```yaml
load_from:
  - python_file: {relative_path: jobs.py, location_name: etl, working_directory: .}
  - python_module: {module_name: my_pkg.jobs, location_name: pkg}
  - server: {host: 10.0.0.5, port: 4000, location_name: remote}
```

Relative paths are relative to the directory of workspace.yaml, which is also the default
working directory (put on `sys.path` of the code server). Errors name the file, line and
key, as for instance.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opgraph.config_files import line_of, read_mapping, validate
from opgraph.errors import InstanceConfigError

WORKSPACE_FILE = "workspace.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PythonFileEntry(_Strict):
    relative_path: str = Field(description="The Python file, relative to workspace.yaml.")
    location_name: str | None = Field(None, description="Default: the file name without .py.")
    working_directory: str | None = Field(
        None, description="Directory put on sys.path; default: the directory of workspace.yaml."
    )
    attribute: str | None = Field(
        None, description="Name of the module's Definitions, if it has more than one."
    )


class PythonModuleEntry(_Strict):
    module_name: str = Field(description="Importable module, e.g. my_pkg.jobs.")
    location_name: str | None = Field(None, description="Default: the module name.")
    working_directory: str | None = Field(
        None, description="Directory put on sys.path; default: the directory of workspace.yaml."
    )
    attribute: str | None = Field(
        None, description="Name of the module's Definitions, if it has more than one."
    )


class ServerEntry(_Strict):
    host: str = Field("127.0.0.1", description="Host of a code server started elsewhere.")
    port: int = Field(ge=1, le=65535, description="Its port (`opgraph code-server --port`).")
    location_name: str | None = Field(None, description="Default: host:port.")


class LoadFromEntry(_Strict):
    python_file: PythonFileEntry | None = None
    python_module: PythonModuleEntry | None = None
    server: ServerEntry | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        """`python_file: jobs.py` and `python_module: pkg.jobs` as in Dagster."""
        if isinstance(value, dict):
            value = dict(value)
            if isinstance(value.get("python_file"), str):
                value["python_file"] = {"relative_path": value["python_file"]}
            if isinstance(value.get("python_module"), str):
                value["python_module"] = {"module_name": value["python_module"]}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> LoadFromEntry:
        given = [k for k in ("python_file", "python_module", "server") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "expected exactly one of python_file, python_module or server; "
                f"given {', '.join(given) or 'none'}"
            )
        return self


class WorkspaceConfig(_Strict):
    load_from: list[LoadFromEntry] = Field(
        default_factory=list, description="The code locations, one entry each."
    )


@dataclass(frozen=True)
class LocationSpec:
    """One resolved entry: a unique name and an origin with absolute paths.

    origin: {"python_file", "working_directory", "attribute"?} | {"python_module",
    "working_directory", "attribute"?} | {"server": {"host", "port"}}
    """

    name: str
    origin: dict[str, Any]
    line: int  # in workspace.yaml, for messages

    @property
    def is_server(self) -> bool:
        return "server" in self.origin


def _resolve(entry: LoadFromEntry, base: Path, line: int) -> LocationSpec:
    def directory(value: str | None) -> str:
        return str((base / value).resolve()) if value else str(base)

    if entry.python_file:
        file = entry.python_file
        path = (base / file.relative_path).resolve()
        origin = {"python_file": str(path), "working_directory": directory(file.working_directory)}
        if file.attribute:
            origin["attribute"] = file.attribute
        return LocationSpec(file.location_name or path.stem, origin, line)
    if entry.python_module:
        module = entry.python_module
        origin = {
            "python_module": module.module_name,
            "working_directory": directory(module.working_directory),
        }
        if module.attribute:
            origin["attribute"] = module.attribute
        return LocationSpec(module.location_name or module.module_name, origin, line)
    assert entry.server is not None
    server = entry.server
    name = server.location_name or f"{server.host}:{server.port}"
    return LocationSpec(name, {"server": {"host": server.host, "port": server.port}}, line)


def load_workspace_config(path: Path) -> list[LocationSpec]:
    """The locations of `path`; [] for an empty file. Raises InstanceConfigError."""
    document = read_mapping(path)
    if document is None:
        return []
    root, data = document
    if not isinstance(data, dict):
        raise InstanceConfigError(
            f"{path}:{root.start_mark.line + 1}: expected a mapping with key load_from, "
            f"given {type(data).__name__}"
        )
    config = validate(WorkspaceConfig, path, root, data, "workspace")
    base = path.resolve().parent
    specs = [
        _resolve(entry, base, line_of(root, ("load_from", index)))
        for index, entry in enumerate(config.load_from)
    ]
    seen: dict[str, LocationSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise InstanceConfigError(
                f"{path}:{spec.line}: location name {spec.name!r} is already used at line "
                f"{seen[spec.name].line}; give each entry its own location_name"
            )
        seen[spec.name] = spec
    return specs
