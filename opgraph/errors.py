"""One error root for the platform. Messages say what was expected and how to fix it."""

from __future__ import annotations


class OpgraphError(Exception):
    """Root of every error opgraph raises on purpose."""


class DefinitionError(OpgraphError):
    """A job, op, graph, schedule or sensor is defined wrongly (caught at definition time)."""


class RunConfigError(OpgraphError):
    """A run config does not fit the job; `errors` lists every problem by path."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid run config:\n  " + "\n  ".join(errors))


class InstanceConfigError(OpgraphError):
    """instance.yaml or workspace.yaml is malformed or names unknown keys."""


class CodePointerError(OpgraphError):
    """User code could not be loaded from its code pointer."""


class RunNotFound(OpgraphError):
    pass


class StepExecutionError(OpgraphError):
    """Raised by execute_in_process(raise_on_error=True) when user code failed."""

    def __init__(self, message: str, user_exception: BaseException | None = None):
        self.user_exception = user_exception
        super().__init__(message)


class Failure(Exception):
    """Raised by an op to fail its step with a description and metadata, without retry."""

    def __init__(self, description: str | None = None, metadata: dict | None = None):
        self.description = description
        self.metadata = metadata or {}
        super().__init__(description)


class RetryRequested(Exception):
    """Raised by an op to ask for another attempt."""

    def __init__(self, max_retries: int = 1, seconds_to_wait: float = 0):
        self.max_retries = max_retries
        self.seconds_to_wait = seconds_to_wait
        super().__init__(f"retry requested (max_retries={max_retries})")
