"""Op inputs and outputs: In, Out, DynamicOut, Output, DynamicOutput, Nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opgraph.errors import DefinitionError


class _NothingType:
    """Marker type for ordering-only dependencies (`In(Nothing)`): no value flows."""

    def __repr__(self) -> str:
        return "Nothing"


Nothing: Any = _NothingType()

NO_DEFAULT = object()


@dataclass(frozen=True)
class In:
    dagster_type: Any = None
    description: str | None = None
    default_value: Any = NO_DEFAULT
    metadata: dict[str, Any] = field(default_factory=dict)
    input_manager_key: str | None = None

    @property
    def is_nothing(self) -> bool:
        return self.dagster_type is Nothing

    @property
    def has_default(self) -> bool:
        return self.default_value is not NO_DEFAULT


@dataclass(frozen=True)
class Out:
    dagster_type: Any = None
    description: str | None = None
    is_required: bool = True
    io_manager_key: str = "io_manager"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_dynamic(self) -> bool:
        return False

    @property
    def is_nothing(self) -> bool:
        return self.dagster_type is Nothing


@dataclass(frozen=True)
class DynamicOut(Out):
    @property
    def is_dynamic(self) -> bool:
        return True


class Output:
    """A value an op yields or returns for one of its outputs."""

    def __init__(
        self,
        value: Any = None,
        output_name: str = "result",
        metadata: dict | None = None,
        data_version: Any = None,  # a DataVersion, for an asset's output
    ):
        self.value = value
        self.output_name = output_name
        self.metadata = metadata or {}
        self.data_version = data_version


class DynamicOutput(Output):
    """One item of a DynamicOut; `mapping_key` names the step it fans out to."""

    def __init__(
        self,
        value: Any = None,
        mapping_key: str = "",
        output_name: str = "result",
        metadata: dict | None = None,
    ):
        if not mapping_key or not all(c.isalnum() or c == "_" for c in mapping_key):
            raise DefinitionError(
                f"DynamicOutput mapping_key must be non-empty letters, digits or '_', "
                f"got {mapping_key!r}"
            )
        super().__init__(value, output_name, metadata)
        self.mapping_key = mapping_key
