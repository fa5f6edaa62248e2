"""Checks of argument values GraphQL's types cannot express; each raises `Refused`
with a typed error naming the argument, what was given and what was expected."""

from __future__ import annotations

from typing import Any

import yaml

from opgraph.workspace.base import CodeLocation, CodeLocationError, DefinitionNotFound, Workspace
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.errors import Refused
from opgraph_storage.records import RunsFilter, RunStatus

MAX_TAG_LENGTH = 255


def _invalid(argument: str, given: Any, expected: str, message: str | None = None) -> Refused:
    shown = repr(given) if not isinstance(given, str) else given
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return Refused(
        e.InvalidArgumentError(
            message=message or f"{argument}: expected {expected}, given {shown}",
            argument=argument,
            given=shown,
            expected=expected,
        )
    )


def check_limit(argument: str, value: int, maximum: int) -> None:
    if not 1 <= value <= maximum:
        raise _invalid(argument, value, f"an integer from 1 to {maximum}")


def check_offset(argument: str, value: int) -> None:
    if value < 0:
        raise _invalid(argument, value, "a byte offset of 0 or more")


def check_step_key(step_key: str) -> None:
    # Step keys name files under the compute log directory: no way out of it.
    if step_key in ("", ".", "..") or any(c in step_key for c in "/\\\0"):
        raise _invalid("stepKey", step_key, "a step key such as extract or process[3]")


def parse_event_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:  # a BIGINT
        raise Refused(
            e.InvalidCursorError(
                message=f"afterCursor: expected the cursor of an event (digits), given {cursor!r}",
                cursor=cursor,
            )
        )
    return int(cursor)


def runs_filter(value: Any) -> RunsFilter:
    if value is None:
        return RunsFilter()
    tags = tags_dict(value.get("tags"), "filter.tags")
    statuses = value.get("statuses")
    return RunsFilter(
        run_ids=value.get("run_ids"),
        job_name=value.get("job_name"),
        statuses=[RunStatus(getattr(s, "value", s)) for s in statuses] if statuses else None,
        tags=tags or None,
        created_before=value.get("created_before"),
        created_after=value.get("created_after"),
    )


def tags_dict(tags: Any, argument: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag in tags or []:
        key, value = tag["key"], tag["value"]
        if not key.strip() or len(key) > MAX_TAG_LENGTH:
            raise _invalid(argument, key, f"a tag key of 1 to {MAX_TAG_LENGTH} characters")
        if key in result and result[key] != value:
            raise _invalid(argument, key, "each tag key once")
        result[key] = value
    return result


def parse_run_config(data: Any) -> dict[str, Any]:
    """Run config as a mapping, or YAML text of one (safe_load: plain data only)."""
    if data is None:
        return {}
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "malformed YAML"
            raise _invalid(
                "runConfigData",
                "(YAML text)",
                "a mapping or YAML text of one",
                f"runConfigData: malformed YAML{where}: {problem}",
            ) from None
        if data is None:
            return {}
    if not isinstance(data, dict):
        raise _invalid(
            "runConfigData",
            type(data).__name__,
            "a mapping (ops:, resources:, execution:)",
        )
    return data


def require_workspace(workspace: Workspace | None) -> Workspace:
    if workspace is None:
        raise Refused(
            e.WorkspaceNotConfiguredError(
                message="this webserver has no workspace: start it next to a workspace.yaml "
                "or give one (create_app(workspace=...), -w/--workspace)"
            )
        )
    return workspace


# What a field taking a job selector and run config answers when `job_location` or
# `parse_run_config` refuses (the unions list them in this order).
JOB_SELECTOR_ERRORS = (
    e.LocationNotFoundError,
    e.JobNotFoundError,
    e.CodeLocationLoadError,
    e.WorkspaceNotConfiguredError,
    e.InvalidArgumentError,
)


def job_location(workspace: Workspace | None, selector: Any) -> CodeLocation:
    """The location of `selector` ({locationName, jobName}), checked to hold the job."""
    location_name, job_name = selector.location_name, selector.job_name
    workspace = require_workspace(workspace)
    if location_name not in workspace.location_names():
        raise Refused(
            e.LocationNotFoundError(
                message=f"no code location named {location_name!r}; the workspace has "
                f"{workspace.location_names()}",
                location_name=location_name,
            )
        )
    location = workspace.get(location_name)
    try:
        location.job(job_name)
    except DefinitionNotFound as exc:
        raise Refused(
            e.JobNotFoundError(message=str(exc), location_name=location_name, job_name=job_name)
        ) from None
    except CodeLocationError as exc:
        raise Refused(
            e.CodeLocationLoadError(message=str(exc), location_name=location_name)
        ) from None
    return location
