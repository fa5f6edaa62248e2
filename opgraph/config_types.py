"""Dagster's config type system: `Shape`, `Permissive`, `Selector`, `Array`, `Noneable`, `Enum`.

These are declarations only. `opgraph.config` turns them into the same pydantic models the
`config_schema` dicts and `Config` classes become, so validation, the run config JSON
Schema and the launchpad scaffold treat all three alike.

The scalar names (`Int`, `String`, `Bool`, `Float`, `Any`) and the generic ones (`List`,
`Dict`, `Optional`) are the Python types they stand for: `Field(Int)` is `Field(int)`.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping, Sequence
from typing import Any as _Any

Int = int
String = str
Bool = bool
Float = float
Any = typing.Any
List = typing.List  # noqa: UP006 - Dagster's name, subscripted by users: List[Int]
Dict = typing.Dict  # noqa: UP006
Optional = typing.Optional


class ConfigType:
    """Base of the structured config types (what `opgraph.config` recognises)."""

    description: str | None = None


class Shape(ConfigType):
    """A mapping with exactly these fields (a `config_schema` dict is one)."""

    def __init__(self, fields: Mapping[str, _Any], description: str | None = None):
        self.fields = dict(fields)
        self.description = description


class Permissive(ConfigType):
    """A mapping with these fields, and any other keys kept as given."""

    def __init__(self, fields: Mapping[str, _Any] | None = None, description: str | None = None):
        self.fields = dict(fields or {})
        self.description = description


class Selector(ConfigType):
    """A mapping with exactly one of these fields set: `{"csv": {...}}` or `{"parquet": {...}}`."""

    def __init__(self, fields: Mapping[str, _Any], description: str | None = None):
        if not fields:
            raise ValueError("Selector needs at least one field")
        self.fields = dict(fields)
        self.description = description


class Array(ConfigType):
    """A list whose items all have one config type."""

    def __init__(self, inner_type: _Any):
        self.inner_type = inner_type


class Noneable(ConfigType):
    """A value of `inner_type`, or null; a field of this type need not be given (None)."""

    def __init__(self, inner_type: _Any):
        self.inner_type = inner_type


class EnumValue:
    """One choice of an `Enum`: written as `config_value` in run config; ops get `python_value`."""

    def __init__(
        self, config_value: str, python_value: _Any = None, description: str | None = None
    ):
        self.config_value = config_value
        self.python_value = config_value if python_value is None else python_value
        self.description = description


class Enum(ConfigType):
    """One of a fixed set of names in run config."""

    def __init__(self, name: str, enum_values: Sequence[EnumValue]):
        if not enum_values:
            raise ValueError(f"Enum {name!r} needs at least one EnumValue")
        self.name = name
        self.enum_values = list(enum_values)

    @classmethod
    def from_python_enum(cls, enum_type: type[enum.Enum]) -> Enum:
        """Run config names the member; the op receives the member itself."""
        return cls(enum_type.__name__, [EnumValue(m.name, m) for m in enum_type])

    def python_value(self, config_value: str) -> _Any:
        for choice in self.enum_values:
            if choice.config_value == config_value:
                return choice.python_value
        raise ValueError(config_value)  # unreachable after Literal validation
