"""Which run tags a client (GraphQL, the CLI) may set, and how long they may be.

`opgraph/*` tags are the platform's: they say who launched a run (`schedule_name`,
`sensor_name`, `parent_run_id`, ...) and where its worker runs. A client that could set
them could fake "launched by" in the UI or point the daemon at another process, so only
the few that are documented as user settings are accepted from clients. The platform
itself writes tags through storage directly and is not checked here.

Lengths: the storage indexes (key, value); a PostgreSQL B-tree entry holds at most about
2,700 bytes, so a key of 255 characters (up to 1,020 bytes) and a value of 1,024 bytes
always fit. An 8 KB value used to fail inside the INSERT with the SQL in the error.
"""

from __future__ import annotations

SYSTEM_TAG_PREFIX = "opgraph/"
# The system tags a user sets on purpose (docs/daemon.md).
USER_SETTABLE_SYSTEM_TAGS = frozenset(
    {"opgraph/max_retries", "opgraph/max_runtime_seconds", "opgraph/priority"}
)
# The platform's own clients say which they are (the launchpad `ui`, `opgraph dev` `dev`);
# the UI shows the value as "launched by", so no other value is accepted.
CLIENT_LABEL_TAGS = {"opgraph/launched_by": frozenset({"ui", "dev"})}
MAX_TAG_KEY_CHARS = 255
MAX_TAG_VALUE_BYTES = 1024


def tag_key_problem(key: str) -> str | None:
    """Why a client may not use `key` as a tag key (filter or launch), or None."""
    if not key.strip() or len(key) > MAX_TAG_KEY_CHARS:
        return f"a tag key of 1 to {MAX_TAG_KEY_CHARS} characters"
    if not key.isprintable():
        return "a tag key without control characters"
    return None


def tag_value_problem(value: str) -> str | None:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TAG_VALUE_BYTES:
        return f"a tag value of at most {MAX_TAG_VALUE_BYTES} bytes (UTF-8)"
    if "\0" in value:
        return "a tag value without NUL characters"
    return None


def reserved_tag_problem(key: str, value: str) -> str | None:
    """Why a client may not *set* `key` to `value` (it may still filter by it), or None."""
    labels = CLIENT_LABEL_TAGS.get(key)
    if labels is not None:
        if value in labels:
            return None
        return f"{key} set to one of {sorted(labels)} (the platform's clients)"
    if key.startswith(SYSTEM_TAG_PREFIX) and key not in USER_SETTABLE_SYSTEM_TAGS:
        allowed = ", ".join(sorted(USER_SETTABLE_SYSTEM_TAGS))
        return (
            f"a tag key not starting with {SYSTEM_TAG_PREFIX} (those are set by the "
            f"platform; a client may set only {allowed})"
        )
    return None


def client_tag_problems(tags: dict[str, str]) -> list[tuple[str, str]]:
    """(key, what was expected) for each tag a client may not set."""
    problems = []
    for key, value in tags.items():
        problem = (
            tag_key_problem(key) or reserved_tag_problem(key, value) or tag_value_problem(value)
        )
        if problem:
            problems.append((key, problem))
    return problems
