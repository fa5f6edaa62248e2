"""Terminal formatting and input parsing shared by the CLI groups."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from opgraph.client_tags import client_tag_problems
from opgraph.errors import OpgraphError, RunNotFound
from opgraph.instance import OpgraphInstance
from opgraph_app.cli_context import with_cli_context
from opgraph_storage.base import StorageError
from opgraph_storage.records import RunRecord


class CommandGroup(click.Group):
    """A command group whose commands run in their context and report opgraph and storage
    errors as one clean message.

    Like Flask's `AppGroup`, `@group.command()` wraps each callback so that it finds the
    instance (`opgraph_app.cli_context`); unlike it, under `opgraph` that needs no Flask.
    A broken instance.yaml or an unreachable database is the user's to fix, not a bug:
    it gets `Error: <what and how to fix it>` and exit code 1 instead of a traceback."""

    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Command]:
        def decorator(f: Callable[..., Any]) -> click.Command:
            command: click.Command = super(CommandGroup, self).command(*args, **kwargs)(
                with_cli_context(f)
            )
            return command

        return decorator

    def group(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Group]:
        kwargs.setdefault("cls", CommandGroup)
        group: Callable[[Callable[..., Any]], click.Group] = super().group(*args, **kwargs)
        return group

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (OpgraphError, StorageError) as exc:
            raise click.ClickException(str(exc)) from None


def parse_tags(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    """click callback for repeated `--tag KEY=VALUE`."""
    tags: dict[str, str] = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, given {value!r}", ctx, param)
        tags[key.strip()] = tag_value
    return tags


def parse_run_tags(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, str]:
    """`--tag KEY=VALUE` for tags set on a new run: no system (`opgraph/*`) tags."""
    tags = parse_tags(ctx, param, values)
    for key, expected in client_tag_problems(tags):
        raise click.BadParameter(f"tag {key!r}: expected {expected}", ctx, param)
    return tags


def get_run_or_fail(instance: OpgraphInstance, run_id: str) -> RunRecord:
    """The run, or a usage error (exit 2) that says how to find run ids."""
    try:
        return instance.get_run(run_id)
    except RunNotFound:
        raise click.BadParameter(
            f"no run with id {run_id!r}; `opgraph runs list` shows the run ids",
            param_hint="RUN_ID",
        ) from None


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """click callback: `--since 30m|2h|7d|1w` (ago) or an ISO date/time (local time)."""
    if value is None:
        return None
    text = value.strip()
    match = _AGO.match(text.lower())
    if match:
        return time.time() - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"expected a duration such as 30m, 2h, 7d, 1w or a date such as 2026-11-27 "
            f"or 2026-11-27T09:30, given {value!r}",
            ctx,
            param,
        ) from None
    return moment.timestamp()


def format_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
