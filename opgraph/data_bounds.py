"""Bounded parsing of data a client sends: run config YAML, JSON bodies, nested values.

A 352-byte YAML document with nine levels of anchors expands to hundreds of millions of
nodes, and JSON nested 1,000 levels deep overflows the Python stack; both used to reach
a code server or a 500. Everything here refuses such input with `DataLimitExceeded`,
which names the limit, the value found and the setting that changes it.

YAML is read in three passes, each bounded by the one before:
1. the event stream (iterative, no recursion): text size, depth, anchors and aliases;
2. the node graph (recursion bounded by the depth checked in 1): the size once every
   alias is expanded, counted with a memo per node so an alias bomb costs its text size;
3. construction with `_BoundedLoader`: plain JSON-like data only.

Tags: plain YAML 1.1 timestamps (`2024-01-01`) stay strings, because a run config must
travel as JSON; explicit `!!timestamp`, `!!set`, `!!binary`, `!!omap`, `!!pairs` and any
other tag are refused, naming the tag.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import yaml
from pydantic import BaseModel, ConfigDict, Field

from opgraph.errors import OpgraphError

# Python itself refuses to convert longer decimal integers (sys.get_int_max_str_digits).
MAX_INT_DIGITS = 4300


class DataLimits(BaseModel):
    """Limits on one run config (or any nested data) a client sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest run config text, in bytes (UTF-8)."
    )
    max_depth: int = Field(64, ge=1, le=400, description="Deepest nesting of mappings and lists.")
    max_nodes: int = Field(
        100_000,
        ge=1,
        description="Most values (scalars, mappings, lists) once YAML aliases are expanded.",
    )
    max_aliases: int = Field(100, ge=0, description="Most YAML aliases (`*name`) in one document.")


class DataLimitExceeded(OpgraphError):
    """Input past one of `DataLimits` (or the integer size); `limit` names which."""

    def __init__(self, source: str, limit: str, found: int | str, maximum: int, setting: str):
        self.source = source
        self.limit = limit
        self.found = found
        self.maximum = maximum
        self.setting = setting
        super().__init__(
            f"{source}: {limit} is {found}, the limit is {maximum}"
            + (f" (set {setting} to change it)" if setting else "")
        )


class DataRefused(OpgraphError):
    """Well-formed input of a kind the platform does not take (e.g. a `!!binary` tag)."""


_SETTING = "webserver.limits.run_config.{}"


def _refuse(source: str, limit: str, found: int | str, maximum: int, key: str) -> NoReturn:
    raise DataLimitExceeded(source, limit, found, maximum, _SETTING.format(key) if key else "")


def _over(source: str, limit: str, maximum: int, key: str = "") -> DataLimitExceeded:
    """The refusal of a count stopped as soon as it passed `maximum` (its total unknown)."""
    return DataLimitExceeded(
        source, limit, f"over {maximum}", maximum, _SETTING.format(key) if key else ""
    )


# -- YAML -------------------------------------------------------------------------------------
class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader without timestamps, sets, binary and ordered pairs; bounded integers."""


# Implicit timestamps resolve to plain strings: drop the resolver, keep the others.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise DataRefused(
        f"the YAML tag {node.tag} at line {node.start_mark.line + 1} is not allowed: "
        "a run config holds plain data (strings, numbers, booleans, null, lists, mappings)"
    )


def _bounded_int(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > MAX_INT_DIGITS:
        _refuse("YAML", "digits in an integer", digits, MAX_INT_DIGITS, "")
    return yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[arg-type]


for _tag in ("timestamp", "set", "binary", "omap", "pairs"):
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _bounded_int)
_BoundedLoader.add_constructor(None, _refuse_tag)  # any other tag (`!foo`, `!!python/...`)


def load_yaml(text: str, limits: DataLimits, source: str = "run config") -> Any:
    """The data of one YAML document, or `DataLimitExceeded` / `DataRefused` /
    `yaml.YAMLError` (malformed)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        _refuse(source, "the size in bytes", size, limits.max_bytes, "max_bytes")
    _check_events(text, limits, source)
    node = yaml.compose(text, Loader=_BoundedLoader)
    if node is None:
        return None
    expanded = _expanded_size(node, {})
    if expanded > limits.max_nodes:
        _refuse(
            source,
            "the number of values (aliases expanded)",
            expanded,
            limits.max_nodes,
            "max_nodes",
        )
    loader = _BoundedLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_events(text: str, limits: DataLimits, source: str) -> None:
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_BoundedLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.max_depth:
                raise _over(source, "the nesting depth", limits.max_depth, "max_depth")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                raise _over(source, "the number of aliases", limits.max_aliases, "max_aliases")


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values under `node` with every alias expanded; each node is counted once (memo)."""
    known = memo.get(id(node))
    if known is not None and known >= 0:
        return known
    if known == -1:  # met again while expanding itself: `&a [*a]` never ends
        raise DataRefused(
            f"a recursive YAML alias at line {node.start_mark.line + 1}: "
            "a run config cannot contain itself"
        )
    memo[id(node)] = -1
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = size
    return size


# -- JSON and parsed values -------------------------------------------------------------------
def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        _refuse("JSON", "digits in an integer", digits, MAX_INT_DIGITS, "")
    return int(text)


def load_json(data: str | bytes, max_depth: int, source: str = "request body") -> Any:
    """`json.loads` that refuses huge integers and deep nesting instead of overflowing."""
    try:
        value = json.loads(data, parse_int=_json_int)
    except RecursionError:  # deeper than the interpreter's stack: certainly too deep
        raise _over(source, "the nesting depth", max_depth) from None
    depth = nesting_depth(value, max_depth)
    if depth > max_depth:
        raise _over(source, "the nesting depth", max_depth)
    return value


def nesting_depth(value: Any, stop_after: int) -> int:
    """How deep lists and dicts nest in `value` (iterative; stops once past `stop_after`)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_after:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children)
    return deepest


def check_data(value: Any, limits: DataLimits, source: str = "run config") -> None:
    """Refuse parsed data (e.g. a GraphQL argument) past the depth or node limits."""
    if nesting_depth(value, limits.max_depth) > limits.max_depth:
        raise _over(source, "the nesting depth", limits.max_depth, "max_depth")
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise _over(source, "the number of values", limits.max_nodes, "max_nodes")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int) and item.bit_length() > MAX_INT_DIGITS * 3.33:
            # over ~4300 decimal digits
            raise _over(source, "digits in an integer", MAX_INT_DIGITS)
