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
from opgraph_storage.base import StorageError

log = logging.getLogger(__name__)


class Error(graphene.Interface):
    message = graphene.String(required=True)


class TypedError(graphene.ObjectType):
    """Base of every typed error: an object type that implements `Error`."""

    class Meta:
        abstract = True

    @classmethod
    def __init_subclass_with_meta__(
        cls, interfaces: tuple[type[graphene.Interface], ...] = (Error,), **options: Any
    ) -> None:
        # graphene reads `Meta.interfaces` per class and never inherits it: default it here.
        super().__init_subclass_with_meta__(interfaces=interfaces, **options)


class PythonError(TypedError):
    """An unexpected error in the server; its traceback is in the server log."""

    class_name = graphene.String(required=True)


class RunNotFoundError(TypedError):
    """No run has this id."""

    run_id = graphene.String(required=True)


class RunStatusError(TypedError):
    """The run's status does not allow this (e.g. deleting a running run)."""

    run_id = graphene.String(required=True)
    status = graphene.String(required=True)


class ReadOnlyError(TypedError):
    """The webserver is read-only (`--read-only` or `webserver.read_only`)."""


class UnauthorizedError(TypedError):
    """Mutations need `Authorization: Bearer <webserver.auth_token>`."""


class InvalidArgumentError(TypedError):
    """An argument has a value the field cannot use."""

    argument = graphene.String(required=True)
    given = graphene.String()
    expected = graphene.String(required=True)


class InvalidCursorError(TypedError):
    """The cursor names no position in this list (e.g. its run was deleted)."""

    cursor = graphene.String(required=True)


class LocationNotFoundError(TypedError):
    """The workspace has no code location with this name."""

    location_name = graphene.String(required=True)


class JobNotFoundError(TypedError):
    """The code location has no job with this name."""

    location_name = graphene.String(required=True)
    job_name = graphene.String(required=True)


class CodeLocationLoadError(TypedError):
    """The code location cannot answer: its code failed to load, or its server is down."""

    location_name = graphene.String()


class WorkspaceNotConfiguredError(TypedError):
    """This webserver has no workspace (no workspace.yaml was found)."""


class InvalidStepError(TypedError):
    """Step keys that are not in the job."""

    invalid_step_keys = graphene.List(graphene.NonNull(graphene.String), required=True)


class RunConfigValidationError(graphene.ObjectType):
    """One problem with a run config: where it is and what is wrong."""

    path = graphene.String(required=True, description="Dotted path, e.g. ops.greet.config.name")
    message = graphene.String(required=True)


class RunConfigValidationInvalid(TypedError):
    class Meta:
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


# What every mutation may answer before it looks at its arguments.
MUTATION_REFUSALS = (ReadOnlyError, UnauthorizedError)


def check_mutation_allowed(info: Any) -> None:
    """Raise `Refused` if this request may not change anything (read-only mode, bearer
    token); every mutation calls this first, so a refused request writes nothing."""
    refusal = info.context.mutation_refusal()
    if refusal is not None:
        raise Refused(refusal)


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
