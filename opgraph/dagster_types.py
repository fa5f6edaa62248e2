"""Dagster types: runtime checks of op inputs and outputs (`DagsterType`, `TypeCheck`...).

A type given as `In(dagster_type=...)`, `Out(dagster_type=...)`, or as the annotation of
an op parameter or return value (a class decorated with `usable_as_dagster_type`) is
checked when the step loads the input or yields the output. A failed check fails the step
with the check's description and metadata (`DagsterTypeCheckDidNotPass`), and is never
retried: the same value would fail again.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opgraph.dagster_errors import DagsterTypeCheckDidNotPass, DagsterTypeCheckError


@dataclass(frozen=True)
class TypeCheck:
    """The result of a type check: success, and what to show about it."""

    success: bool
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeCheckContext:
    """What a type check function gets as its first argument."""

    run_id: str
    log: Any
    resources: Any


class DagsterType:
    """A named runtime check: `type_check_fn(context, value)` returns a bool or a TypeCheck."""

    def __init__(
        self,
        type_check_fn: Callable[[Any, Any], bool | TypeCheck],
        key: str | None = None,
        name: str | None = None,
        description: str | None = None,
        typing_type: Any = Any,
        required_resource_keys: set[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        **_ignored: Any,  # loader=, materializer=...: not used by opgraph
    ):
        self.type_check_fn = type_check_fn
        self.name: str = name or key or str(getattr(type_check_fn, "__name__", "DagsterType"))
        self.key = key or self.name
        self.description = description
        self.typing_type = typing_type
        self.required_resource_keys = frozenset(required_resource_keys or ())
        self.metadata = dict(metadata or {})

    @property
    def display_name(self) -> str:
        return self.name

    def type_check(self, context: Any, value: Any) -> TypeCheck:
        try:
            result = self.type_check_fn(context, value)
        except Exception as exc:
            raise DagsterTypeCheckError(
                f"type check function of Dagster type {self.name!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(result, TypeCheck):
            return result
        if isinstance(result, bool):
            return TypeCheck(result)
        raise DagsterTypeCheckError(
            f"type check function of Dagster type {self.name!r} returned {result!r}; "
            "expected a bool or a TypeCheck"
        )

    def __repr__(self) -> str:
        return f"<DagsterType {self.name}>"


class PythonObjectDagsterType(DagsterType):
    """A Dagster type whose check is `isinstance(value, python_type)`."""

    def __init__(
        self,
        python_type: type | tuple[type, ...],
        key: str | None = None,
        name: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ):
        self.python_type = python_type
        type_name = (
            python_type.__name__
            if isinstance(python_type, type)
            else " or ".join(t.__name__ for t in python_type)
        )
        super().__init__(
            self._isinstance, key, name or type_name, description, python_type, **kwargs
        )
        self._type_name = type_name

    def _isinstance(self, _context: Any, value: Any) -> TypeCheck:
        if isinstance(value, self.python_type):
            return TypeCheck(True)
        return TypeCheck(
            False,
            f"Value of type {type(value)} failed type check for Dagster type {self.name}, "
            f"expected value to be of Python type {self._type_name}.",
        )


_TYPE_ATTR = "__opgraph_dagster_type__"


def usable_as_dagster_type(
    cls: type | None = None, *, name: str | None = None, description: str | None = None
) -> Any:
    """Class decorator: annotating an op parameter or return with the class checks values."""

    def decorator(klass: type) -> type:
        setattr(
            klass, _TYPE_ATTR, PythonObjectDagsterType(klass, name=name, description=description)
        )
        return klass

    return decorator(cls) if cls is not None else decorator


def as_dagster_type(declared: Any) -> DagsterType | None:
    """The DagsterType a declaration stands for; None for plain Python types (not checked)."""
    if isinstance(declared, DagsterType):
        return declared
    found = getattr(declared, _TYPE_ATTR, None) if isinstance(declared, type) else None
    return found if isinstance(found, DagsterType) else None


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations, resolved (a job file may use `from __future__ import
    annotations`); what cannot be resolved is left out, so it is not checked."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return {
            name: value
            for name, value in getattr(fn, "__annotations__", {}).items()
            if not isinstance(value, str)
        }


def input_types(op_def: Any) -> dict[str, DagsterType]:
    hints = _annotations(op_def.compute_fn)
    checked: dict[str, DagsterType] = {}
    for name, spec in op_def.ins.items():
        declared = spec.dagster_type
        if declared is None:
            declared = hints.get(name)
        found = as_dagster_type(declared)
        if found is not None:
            checked[name] = found
    return checked


def output_type(op_def: Any, output_name: str) -> DagsterType | None:
    out = op_def.outs.get(output_name)
    declared = out.dagster_type if out is not None else None
    if declared is None and len(op_def.outs) == 1:
        declared = _annotations(op_def.compute_fn).get("return")
    return as_dagster_type(declared)


def check_value(dagster_type: DagsterType, value: Any, context: Any, what: str) -> None:
    """Raise DagsterTypeCheckDidNotPass with the check's description and metadata."""
    result = dagster_type.type_check(context, value)
    if not result.success:
        raise DagsterTypeCheckDidNotPass(
            result.description
            or f"Type check failed for {what} with Dagster type {dagster_type.name}",
            dict(result.metadata),
            dagster_type,
        )
