"""Checks of argument values GraphQL's types cannot express; each raises `Refused`
with a typed error naming the argument, what was given and what was expected."""

from __future__ import annotations

import math
from typing import Any

import yaml

from opgraph.client_tags import reserved_tag_problem, tag_key_problem, tag_value_problem
from opgraph.data_bounds import DataLimits, check_data, load_yaml
from opgraph.workspace.base import CodeLocation, CodeLocationError, DefinitionNotFound, Workspace
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.errors import Refused
from opgraph_storage.records import RunsFilter, RunStatus

# Run ids and names are stored in 255-character columns.
MAX_ID_CHARS = 255
# A step key names its log files `<step key>.out`: a file name holds 255 bytes.
MAX_STEP_KEY_BYTES = 240


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


def check_offset(argument: str, value: int, expected: str = "a byte offset of 0 or more") -> None:
    if value < 0:
        raise _invalid(argument, value, expected)


def check_step_key(step_key: str) -> None:
    # Step keys name files under the compute log directory: no way out of it.
    if step_key in ("", ".", "..") or any(c in step_key for c in "/\\\0"):
        raise _invalid("stepKey", step_key, "a step key such as extract or process[3]")
    if len(step_key.encode("utf-8", "surrogatepass")) > MAX_STEP_KEY_BYTES:
        raise _invalid("stepKey", step_key, f"a step key of at most {MAX_STEP_KEY_BYTES} bytes")


def check_id(argument: str, value: str) -> None:
    """A run id (or a name) as the storage holds it: 1 to 255 printable characters."""
    if not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise _invalid(argument, value, f"1 to {MAX_ID_CHARS} printable characters")


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


def runs_filter(value: Any, max_tags: int) -> RunsFilter:
    if value is None:
        return RunsFilter()
    if len(value.get("tags") or []) > max_tags:
        raise _invalid(
            "filter.tags",
            f"{len(value['tags'])} tags",
            f"at most {max_tags} tags (webserver.limits.max_tag_filters)",
        )
    tags = tags_dict(value.get("tags"), "filter.tags")
    for run_id in value.get("run_ids") or []:
        check_id("filter.runIds", run_id)
    if value.get("job_name") is not None:
        check_id("filter.jobName", value["job_name"])
    after, before = value.get("created_after"), value.get("created_before")
    for argument, seconds in (("filter.createdAfter", after), ("filter.createdBefore", before)):
        if seconds is not None and not math.isfinite(seconds):
            raise _invalid(argument, seconds, "seconds since the epoch")
    if after is not None and before is not None and after > before:
        raise _invalid(
            "filter.createdAfter",
            after,
            f"a time no later than filter.createdBefore ({before})",
        )
    statuses = value.get("statuses")
    return RunsFilter(
        run_ids=value.get("run_ids"),
        job_name=value.get("job_name"),
        statuses=[RunStatus(getattr(s, "value", s)) for s in statuses] if statuses else None,
        tags=tags or None,
        created_before=value.get("created_before"),
        created_after=value.get("created_after"),
    )


def tags_dict(tags: Any, argument: str, to_set: bool = False) -> dict[str, str]:
    """Tags from `[{key, value}]`; `to_set`: tags a client sets on a run (no system tags)."""
    result: dict[str, str] = {}
    for tag in tags or []:
        key, value = tag["key"], tag["value"]
        problem = tag_key_problem(key) or (to_set and reserved_tag_problem(key, value))
        if problem:
            raise _invalid(argument, key, problem)
        problem = tag_value_problem(value)
        if problem:
            raise _invalid(f"{argument}[{key}].value", value, problem)
        if key in result and result[key] != value:
            raise _invalid(argument, key, "each tag key once")
        result[key] = value
    return result


def parse_run_config(data: Any, limits: DataLimits) -> dict[str, Any]:
    """Run config as a mapping, or YAML text of one: plain data within `limits`, checked
    here so that nothing past them reaches a code server (`DataLimitExceeded`)."""
    if data is None:
        return {}
    if isinstance(data, str):
        try:
            data = load_yaml(data, limits, "runConfigData")
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
    else:
        check_data(data, limits, "runConfigData")
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


MAX_OP_SELECTION_CLAUSES = 1000


def op_selection_of(selector: Any) -> list[str] | None:
    """`selector.opSelection`'s clauses (None: every op), each checked to be a name of
    sensible length; refused beside an asset selection (that names what runs already)."""
    clauses = [c.strip() for c in selector.get("op_selection") or [] if c.strip()]
    if not clauses:
        return None
    if selector.get("asset_selection") is not None:
        raise _invalid("selector.opSelection", clauses, "no opSelection beside an assetSelection")
    if len(clauses) > MAX_OP_SELECTION_CLAUSES:
        raise _invalid(
            "selector.opSelection", len(clauses), f"at most {MAX_OP_SELECTION_CLAUSES} clauses"
        )
    for clause in clauses:
        if len(clause) > MAX_ID_CHARS:
            raise _invalid(
                "selector.opSelection", clause, f"clauses of {MAX_ID_CHARS} characters at most"
            )
    return clauses


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
