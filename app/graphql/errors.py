"""Typed errors: every `...OrError` field answers with one of these instead of failing.

A client tells them apart by `__typename`; each names what was wrong. Unexpected
exceptions become `PythonError` with the class and message only: the traceback goes to
the server log, never into the response.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import graphene

from opgraph.errors import CodePointerError, OpgraphError, RunNotFound
from opgraph.workspace.base import CodeLocationError, DefinitionNotFound
from storage.base import StorageError

log = logging.getLogger(__name__)


class Error(graphene.Interface):
    message = graphene.String(required=True)


class PythonError(graphene.ObjectType):
    """An unexpected error in the server; its traceback is in the server log."""

    class Meta:
        interfaces = (Error,)

    class_name = graphene.String(required=True)


class RunNotFoundError(graphene.ObjectType):
    """No run has this id."""

    class Meta:
        interfaces = (Error,)

    run_id = graphene.String(required=True)


class RunStatusError(graphene.ObjectType):
    """The run's status does not allow this (e.g. deleting a running run)."""

    class Meta:
        interfaces = (Error,)

    run_id = graphene.String(required=True)
    status = graphene.String(required=True)


class ReadOnlyError(graphene.ObjectType):
    """The webserver is read-only (`--read-only` or `webserver.read_only`)."""

    class Meta:
        interfaces = (Error,)


class UnauthorizedError(graphene.ObjectType):
    """Mutations need `Authorization: Bearer <webserver.auth_token>`."""

    class Meta:
        interfaces = (Error,)


class InvalidArgumentError(graphene.ObjectType):
    """An argument has a value the field cannot use."""

    class Meta:
        interfaces = (Error,)

    argument = graphene.String(required=True)
    given = graphene.String()
    expected = graphene.String(required=True)


class InvalidCursorError(graphene.ObjectType):
    """The cursor names no position in this list (e.g. its run was deleted)."""

    class Meta:
        interfaces = (Error,)

    cursor = graphene.String(required=True)


class LocationNotFoundError(graphene.ObjectType):
    """The workspace has no code location with this name."""

    class Meta:
        interfaces = (Error,)

    location_name = graphene.String(required=True)


class JobNotFoundError(graphene.ObjectType):
    """The code location has no job with this name."""

    class Meta:
        interfaces = (Error,)

    location_name = graphene.String(required=True)
    job_name = graphene.String(required=True)


class CodeLocationLoadError(graphene.ObjectType):
    """The code location cannot answer: its code failed to load, or its server is down."""

    class Meta:
        interfaces = (Error,)

    location_name = graphene.String()


class WorkspaceNotConfiguredError(graphene.ObjectType):
    """This webserver has no workspace (no workspace.yaml was found)."""

    class Meta:
        interfaces = (Error,)


class InvalidStepError(graphene.ObjectType):
    """Step keys that are not in the job."""

    class Meta:
        interfaces = (Error,)

    invalid_step_keys = graphene.List(graphene.NonNull(graphene.String), required=True)


class RunConfigValidationError(graphene.ObjectType):
    """One problem with a run config: where it is and what is wrong."""

    path = graphene.String(required=True, description="Dotted path, e.g. ops.greet.config.name")
    message = graphene.String(required=True)


class RunConfigValidationInvalid(graphene.ObjectType):
    class Meta:
        interfaces = (Error,)
        description = "The run config does not fit the job; `errors` lists every problem."

    job_name = graphene.String(required=True)
    errors = graphene.List(graphene.NonNull(RunConfigValidationError), required=True)


def config_errors(job_name: str, problems: list[str]) -> RunConfigValidationInvalid:
    """From validator lines such as `ops.greet.config.name: expected str, got 3`."""
    errors = []
    for problem in problems:
        path, sep, message = problem.partition(": ")
        if not sep or " " in path:
            path, message = "", problem
        errors.append(RunConfigValidationError(path=path, message=message))
    summary = f"the run config does not fit job {job_name!r}: {len(problems)} problem(s)"
    return RunConfigValidationInvalid(message=summary, job_name=job_name, errors=errors)


def python_error(exc: BaseException) -> Any:
    return PythonError(message=str(exc) or type(exc).__name__, class_name=type(exc).__name__)


def error_for(exc: Exception) -> Any:
    """The typed error for an exception raised on purpose, or a PythonError."""
    if isinstance(exc, RunNotFound):
        return RunNotFoundError(message=str(exc), run_id=getattr(exc, "run_id", ""))
    if isinstance(exc, DefinitionNotFound):
        return PythonError(message=str(exc), class_name="DefinitionNotFound")
    if isinstance(exc, CodeLocationError | CodePointerError):
        return CodeLocationLoadError(message=str(exc))
    if isinstance(exc, OpgraphError | StorageError):
        return PythonError(message=str(exc), class_name=type(exc).__name__)
    log.exception("unexpected error in a GraphQL resolver")
    return python_error(exc)


class Refused(Exception):
    """Raised by argument checks with the typed error to answer; `typed_errors` returns it."""

    def __init__(self, error: Any):
        super().__init__(error.message)
        self.error = error


F = TypeVar("F", bound=Callable[..., Any])


def typed_errors(resolver: F) -> F:
    """Turn exceptions escaping an `...OrError` resolver into typed errors."""

    @functools.wraps(resolver)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolver(*args, **kwargs)
        except Refused as refused:
            return refused.error
        except Exception as exc:
            return error_for(exc)

    return wrapper  # type: ignore[return-value]
