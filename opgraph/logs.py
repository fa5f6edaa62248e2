"""Service logs as one JSON object per line (`OPGRAPH_LOG_FORMAT=json`), with run and step.

Every long-running process (webserver, daemon, code server, Celery worker, run worker)
calls `configure_logging(service)` at start; with the default text format it changes
nothing. In JSON format the root logger writes lines such as

    {"ts": "2025-01-01T12:00:00.123Z", "level": "INFO", "service": "worker",
     "logger": "opgraph.user", "message": "partition 3 done", "pid": 4242,
     "run_id": "4f1c...", "step_key": "process_partition[partition_3]"}

`run_id` and `step_key` come from `log_context(...)` (the step runner wraps every step in
it; a run worker sets its run for the whole process) or from a record's `extra`. Stdlib
only: opgraph, celery_executor and app all use it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

FORMAT_ENV = "OPGRAPH_LOG_FORMAT"
LEVEL_ENV = "OPGRAPH_LOG_LEVEL"
FORMATS = ("text", "json")
CONTEXT_FIELDS = ("run_id", "step_key")

# Immutable (pairs), so that a context never shares a dict another one changes.
_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "opgraph_log_context", default=()
)
# Functions that name the run/step a process is busy with (e.g. the Celery task in flight).
_providers: list[Callable[[], dict[str, str]]] = []
# The LogRecord attributes every record has: anything else came in through `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def log_format(given: str | None = None) -> str:
    value = (given or os.environ.get(FORMAT_ENV) or "text").lower()
    if value not in FORMATS:
        raise ValueError(f"{FORMAT_ENV} must be one of {', '.join(FORMATS)}, got {value!r}")
    return value


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Records logged inside carry these fields (e.g. run_id, step_key)."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def set_log_context(**fields: str | None) -> None:
    """For the rest of this context (a process's main thread: a run worker's run id)."""
    _context.set(_merged(fields))


def add_log_context_provider(provider: Callable[[], dict[str, str]]) -> None:
    """`provider()` adds fields to every record (those of `log_context` win)."""
    if provider not in _providers:
        _providers.append(provider)


def _merged(fields: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    merged = {**dict(_context.get()), **{k: v for k, v in fields.items() if v}}
    return tuple(merged.items())


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "opgraph"):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for provider in _providers:
            try:
                entry.update(provider())
            except Exception:  # a log line is never lost to its decoration
                pass
        entry.update(_context.get())  # run_id, step_key
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


def json_handler(service: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    return handler


def configure_logging(service: str, fmt: str | None = None, level: str | None = None) -> bool:
    """In JSON format, send every record of this process to stderr as JSON; returns
    whether it did (text format leaves logging as the process set it up)."""
    if log_format(fmt) != "json":
        return False
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(service))
    root.setLevel((level or os.environ.get(LEVEL_ENV) or "INFO").upper())
    return True
