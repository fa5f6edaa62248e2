"""Typed metadata values (Dagster's `MetadataValue`, `TableSchema`, `TableColumn`...).

Ops attach metadata to outputs, failures, type checks and expectations. Events are JSON,
so each value is stored as `{"type": ..., "value": ...}` by `metadata_to_json`; plain
str/int/float/bool/None values stay as they are (what opgraph stored before).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableColumnConstraints:
    nullable: bool = True
    unique: bool = False
    other: Sequence[str] = ()


@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str = "string"
    description: str | None = None
    constraints: TableColumnConstraints = field(default_factory=TableColumnConstraints)


@dataclass(frozen=True)
class TableConstraints:
    other: Sequence[str] = ()


@dataclass(frozen=True)
class TableSchema:
    """The columns (and table-level constraints) of a table an op writes or reads."""

    columns: Sequence[TableColumn] = ()
    constraints: TableConstraints = field(default_factory=TableConstraints)

    @staticmethod
    def from_name_type_dict(name_type_dict: Mapping[str, str]) -> TableSchema:
        return TableSchema([TableColumn(name, kind) for name, kind in name_type_dict.items()])


class TableRecord(dict):  # type: ignore[type-arg]
    """One row of a `MetadataValue.table`: a mapping of column name to a scalar."""

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__({**(data or {}), **kwargs})


@dataclass(frozen=True)
class MetadataValue:
    """One typed metadata value; build it with the static constructors (`MetadataValue.md`)."""

    type: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": _plain(self.value)}

    # The constructors Dagster offers, each a named kind the UI can render.
    @staticmethod
    def text(text: str) -> MetadataValue:
        return MetadataValue("text", str(text))

    @staticmethod
    def md(md_str: str) -> MetadataValue:
        return MetadataValue("md", str(md_str))

    @staticmethod
    def url(url: str) -> MetadataValue:
        return MetadataValue("url", str(url))

    @staticmethod
    def path(path: str | os.PathLike[str]) -> MetadataValue:
        return MetadataValue("path", os.fspath(path))

    @staticmethod
    def notebook(path: str | os.PathLike[str]) -> MetadataValue:
        return MetadataValue("notebook", os.fspath(path))

    @staticmethod
    def json(data: Any) -> MetadataValue:
        json.dumps(data)  # refuse what the event log could not store, where the op made it
        return MetadataValue("json", data)

    @staticmethod
    def int(value: int) -> MetadataValue:
        return MetadataValue("int", value)

    @staticmethod
    def float(value: float) -> MetadataValue:
        return MetadataValue("float", value)

    @staticmethod
    def bool(value: bool) -> MetadataValue:
        return MetadataValue("bool", value)

    @staticmethod
    def timestamp(value: Any) -> MetadataValue:
        seconds = value.timestamp() if hasattr(value, "timestamp") else value
        return MetadataValue("timestamp", seconds)

    @staticmethod
    def python_artifact(python_artifact: Any) -> MetadataValue:
        module = getattr(python_artifact, "__module__", "")
        return MetadataValue("python_artifact", f"{module}.{python_artifact.__qualname__}")

    @staticmethod
    def dagster_run(run_id: str) -> MetadataValue:
        return MetadataValue("run", run_id)

    @staticmethod
    def job(job_name: str, location_name: str | None = None) -> MetadataValue:
        return MetadataValue("job", {"job_name": job_name, "location_name": location_name})

    @staticmethod
    def asset(asset_key: Any) -> MetadataValue:
        path = getattr(asset_key, "path", asset_key)
        return MetadataValue("asset", list(path) if not isinstance(path, str) else [path])

    @staticmethod
    def table(
        records: Sequence[Mapping[str, Any]], schema: TableSchema | None = None
    ) -> MetadataValue:
        return MetadataValue("table", {"records": [dict(r) for r in records], "schema": schema})

    @staticmethod
    def table_schema(schema: TableSchema) -> MetadataValue:
        return MetadataValue("table_schema", schema)

    @staticmethod
    def null() -> MetadataValue:
        return MetadataValue("null", None)


def _plain(value: Any) -> Any:
    """A metadata value's payload as JSON-able data (dataclasses become dicts)."""
    if isinstance(value, (TableSchema, TableColumn)):
        return asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def metadata_to_json(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata as the event log stores it: typed values tagged, odd objects as strings."""
    safe: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if isinstance(value, MetadataValue):
            safe[str(key)] = value.to_json()
        elif isinstance(value, TableSchema):
            safe[str(key)] = MetadataValue.table_schema(value).to_json()
        elif isinstance(value, (str, int, float, bool, type(None))):
            safe[str(key)] = value
        else:
            safe[str(key)] = str(value)
    return safe
