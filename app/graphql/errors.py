"""Typed errors: every `...OrError` field answers with one of these instead of failing.

A client tells them apart by `__typename`; each names what was wrong. Unexpected
exceptions become `PythonError` with the class name and an error id only: the message
(which may hold SQL, parameters or paths) and the traceback go to the server log.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import graphene

from opgraph.data_bounds import DataLimitExceeded, DataRefused
from opgraph.errors import CodePointerError, OpgraphError, RunNotFound
from opgraph.workspace.base import CodeLocationError, DefinitionNotFound
from opgraph_storage.base import StorageError
from opgraph_storage.engine import is_statement_timeout

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


class LimitExceededError(TypedError):
    """The request asked for more than a limit allows (cost, size, depth, time)."""

    limit = graphene.String(required=True, description="Which limit, e.g. `query cost`.")
    maximum = graphene.Float(required=True)
    setting = graphene.String(description="The instance.yaml key that changes the limit.")


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


def unexpected_error_message(exc: BaseException) -> str:
    """Log an unexpected error under a new id; the message to answer names only its class
    and that id (its text may hold SQL, parameters, paths or secrets)."""
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s in a GraphQL resolver", error_id, exc_info=exc)
    return (
        f"unexpected server error ({type(exc).__name__}); the server log has "
        f"its details under error id {error_id}"
    )


def python_error(exc: BaseException) -> Any:
    return PythonError(message=unexpected_error_message(exc), class_name=type(exc).__name__)


def limit_exceeded(message: str, limit: str, maximum: float, setting: str | None) -> Any:
    return LimitExceededError(message=message, limit=limit, maximum=maximum, setting=setting)


# Set by the view from instance.yaml; named in the answer to a query that ran too long.
STATEMENT_TIMEOUT = {"seconds": 0.0}


def error_for(exc: Exception) -> Any:
    """The typed error for an exception raised on purpose, or a PythonError."""
    if isinstance(exc, DataLimitExceeded):
        return limit_exceeded(str(exc), exc.limit, exc.maximum, exc.setting or None)
    if is_statement_timeout(exc):
        seconds = STATEMENT_TIMEOUT["seconds"]
        return limit_exceeded(
            f"a database query of this request ran longer than {seconds:g} s and was "
            "cancelled; narrow the request (fewer tags, a smaller limit)",
            "statement timeout (seconds)",
            seconds,
            "webserver.limits.statement_timeout_seconds",
        )
    if isinstance(exc, DataRefused):
        return InvalidArgumentError(
            message=str(exc), argument="runConfigData", expected="plain data", given=None
        )
    if isinstance(exc, RunNotFound):
        return RunNotFoundError(message=str(exc), run_id=getattr(exc, "run_id", ""))
    if isinstance(exc, DefinitionNotFound):
        return PythonError(message=str(exc), class_name="DefinitionNotFound")
    if isinstance(exc, CodeLocationError | CodePointerError):
        return CodeLocationLoadError(message=str(exc))
    if isinstance(exc, OpgraphError | StorageError):
        return PythonError(message=str(exc), class_name=type(exc).__name__)
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
        # An explicit `null` for an optional argument means "not given": the resolver's
        # default applies (it used to reach `1 <= None` and answer a TypeError).
        kwargs = {name: value for name, value in kwargs.items() if value is not None}
        try:
            check_text_arguments(kwargs)
            return resolver(*args, **kwargs)
        except Refused as refused:
            return refused.error
        except Exception as exc:
            return error_for(exc)

    return wrapper  # type: ignore[return-value]


def check_text_arguments(kwargs: dict[str, Any]) -> None:
    """Refuse NUL characters and lone surrogates anywhere in the arguments: no database
    column, file name or JSON consumer takes them (PostgreSQL refuses NUL in text)."""
    stack: list[tuple[str, Any]] = list(kwargs.items())
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            if "\0" in value or _has_surrogate(value):
                raise Refused(
                    InvalidArgumentError(
                        message=f"{_camel(name)}: expected text without NUL characters or "
                        "lone surrogates",
                        argument=_camel(name),
                        given=value.encode("utf-8", "backslashreplace").decode()[:200],
                        expected="text without NUL characters or lone surrogates",
                    )
                )
        elif isinstance(value, dict):
            stack.extend((name, v) for v in value)
            stack.extend((name, v) for v in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((name, v) for v in value)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)
