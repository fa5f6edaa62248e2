"""`EnvVar`: a resource field read from the environment when the run starts.

`MyResource(api_key=EnvVar("API_KEY"), port=EnvVar.int("PORT"))` keeps each variable's
*name* in the definition (snapshots and the UI show `EnvVar("API_KEY")`); the value is read
from the environment of the process that builds the resources for a run, so it never
reaches a code location's snapshot, the run config or the event log.

As in Dagster, `EnvVar("X")` fills a `str` field and `EnvVar.int("X")` an `int` field (or a
`bool` one, which Dagster also lets it fill), optional ones too; the text is parsed as the
field's type at run time. Other pairs are refused when the resource is defined.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from opgraph.errors import DefinitionError, OpgraphError


class EnvVarNotSet(OpgraphError):
    """A resource field names an environment variable that the run's process does not have
    (or whose text is not a value of the field's type)."""


class EnvVar(str):
    """The name of an environment variable, read at run time (Dagster's `EnvVar`)."""

    __slots__ = ()

    @classmethod
    def int(cls, name: str) -> IntEnvVar:
        """The same, for an `int` field (Dagster's `EnvVar.int`)."""
        return IntEnvVar.create(name)

    @property
    def env_var_name(self) -> str:
        return str.__str__(self)

    def get_value(self, default: str | None = None) -> str | None:
        return os.getenv(self.env_var_name, default)

    def __repr__(self) -> str:
        return f'EnvVar("{self.env_var_name}")'


class IntEnvVar(int):
    """`EnvVar.int("PORT")`: an int to type checkers, the variable's name to opgraph."""

    env_var_name: str

    @classmethod
    def create(cls, name: str) -> IntEnvVar:
        var = cls(0)
        var.env_var_name = name
        return var

    def get_value(self, default: int | None = None) -> int | None:
        value = os.getenv(self.env_var_name)
        return default if value is None else int(value)

    def __repr__(self) -> str:
        return f'EnvVar("{self.env_var_name}")'


# What a field holds at definition time while its variable is unread: a value of its type.
_PLACEHOLDERS: dict[Any, Any] = {str: "", int: 0, bool: False}
# Which kind of EnvVar fills which field type (Dagster's StringSource, IntSource, BoolSource).
_FILLS = {str: "EnvVar", int: "EnvVar.int", bool: "EnvVar.int"}
# Dagster's reading of a boolean variable: anything else is true.
_FALSE_TEXTS = frozenset({"false", "none", "0", ""})


def _scalar(annotation: Any) -> Any:
    """str, int or bool for such a field (Optional too); None for any other type."""
    if annotation in _PLACEHOLDERS:
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in _PLACEHOLDERS:
            return args[0]
    return None


def env_var_fields(data: Any) -> dict[str, str]:
    """The fields of a resource's constructor arguments given as `EnvVar`, with their names."""
    if not isinstance(data, Mapping):
        return {}
    return {str(k): v.env_var_name for k, v in data.items() if isinstance(v, (EnvVar, IntEnvVar))}


def with_placeholders(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with each EnvVar of a non-str field replaced by a value of the field's type, so
    the definition validates; a field type no variable can fill is a DefinitionError."""
    replaced = dict(data)
    for name, var in env_var_fields(data).items():
        field = model.model_fields.get(name)
        if field is None:
            continue  # pydantic names the unknown field
        scalar = _scalar(field.annotation)
        given = "EnvVar.int" if isinstance(data[name], IntEnvVar) else "EnvVar"
        if scalar is None or _FILLS[scalar] != given:
            expected = f"use {_FILLS[scalar]}({var!r})" if scalar else "give the value itself"
            raise DefinitionError(
                f"{model.__name__}.{name}: {given}({var!r}) given for a field of type "
                f"{getattr(field.annotation, '__name__', field.annotation)}; {expected} "
                "(EnvVar fills str fields, EnvVar.int int and bool fields, as in Dagster)"
            )
        if scalar is not str:
            replaced[name] = _PLACEHOLDERS[scalar]
    return replaced


def read_env_vars(
    owner: str, fields: Mapping[str, str], model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """Each field's value from the environment now, parsed as the field's type when `model`
    is given; a missing variable or a value of the wrong type names the field."""
    values: dict[str, Any] = {}
    for field, name in fields.items():
        value = os.environ.get(name)
        if value is None:
            raise EnvVarNotSet(
                f"{owner}.{field}: environment variable {name!r} is not set in this process; "
                f"set it where the run executes (field given as EnvVar({name!r}))"
            )
        info = model.model_fields.get(field) if model is not None else None
        scalar = _scalar(info.annotation) if info is not None else None
        if scalar is bool:
            values[field] = value.strip().lower() not in _FALSE_TEXTS
        elif scalar is int:
            try:
                values[field] = int(value)
            except ValueError:
                raise EnvVarNotSet(
                    f"{owner}.{field}: environment variable {name!r} is {value!r}; expected "
                    f"an integer (field given as EnvVar.int({name!r}))"
                ) from None
        else:
            values[field] = value
    return values
