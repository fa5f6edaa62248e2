"""The error classes Dagster users catch, by Dagster's names.

Where opgraph already has the concept, the Dagster name *is* opgraph's class, so
`except DagsterInvalidConfigError` catches the `RunConfigError` that opgraph raises.
"""

from __future__ import annotations

from typing import Any

from opgraph.errors import (
    DefinitionError,
    OpgraphError,
    RunConfigError,
    RunNotFound,
    StepExecutionError,
)

DagsterError = OpgraphError
DagsterInvalidConfigError = RunConfigError
DagsterInvalidDefinitionError = DefinitionError
DagsterExecutionStepExecutionError = StepExecutionError
DagsterRunNotFoundError = RunNotFound


class DagsterInvariantViolationError(OpgraphError):
    """The API was used in a way it does not allow (e.g. a resource built twice by name)."""


class DagsterUnknownResourceError(OpgraphError, AttributeError):
    """Code asked for a resource key that the job does not provide."""


class DagsterTypeCheckDidNotPass(OpgraphError):
    """A value failed its `DagsterType`'s check: the step fails with the check's result."""

    def __init__(
        self,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        dagster_type: Any = None,
    ):
        self.description = description
        self.metadata = dict(metadata or {})
        self.dagster_type = dagster_type
        super().__init__(description or "type check failed")


class DagsterTypeCheckError(OpgraphError):
    """A type check function itself raised (rather than returning a failed TypeCheck)."""


class DagsterResourceFunctionError(OpgraphError):
    """A resource's init function raised."""


class DagsterUserCodeExecutionError(OpgraphError):
    """User code raised while the platform ran it."""


class DagsterExecutionInterruptedError(BaseException):
    """The run was interrupted (a BaseException, as interrupts are in opgraph)."""
