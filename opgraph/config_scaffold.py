"""A run config scaffolded from a job's run config JSON Schema, for a person to fill in.

The JSON Schema (a job snapshot's `run_config_schema`, Dagster-style config types
included: Shape, Selector, Array, Noneable, Enum, Permissive) says what each field is.
Three actions:

- SCAFFOLD: a fresh config: every op's fields with their defaults, the job's default run
  config, and each required field without a default as a placeholder;
- ADD_MISSING: the user's config with the required fields it lacks added as placeholders;
- REMOVE_EXTRA: the user's config without the keys the schema does not know.

A placeholder is written `name:  # required: integer`: its value is YAML null, which no
required field accepts, so a scaffold never validates until every placeholder is filled
(a scaffold that wrote 0 or '' let the launchpad say "valid" and launch). Both the
snapshot's `run_config_scaffold` and GraphQL's `launchpadConfig` are written here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from opgraph.run_config import deep_merge

PLACEHOLDER_MARK = "# required: "
# Root sections: ops are scaffolded in full, resources only where they must be given,
# execution and loggers not at all (their defaults serve).
_SCAFFOLD_IN_FULL = ("ops",)


class ConfigAction(enum.Enum):
    SCAFFOLD = "SCAFFOLD"
    ADD_MISSING = "ADD_MISSING"
    REMOVE_EXTRA = "REMOVE_EXTRA"


@dataclass(frozen=True)
class Placeholder:
    """A required field the user has to fill in; `label` says what it takes."""

    label: str


@dataclass(frozen=True)
class Scaffold:
    text: str  # YAML, placeholders included
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, what it takes)
    removed: list[str] = field(default_factory=list)


def scaffold_run_config(
    schema: Mapping[str, Any],
    action: ConfigAction,
    given: Mapping[str, Any] | None = None,
    default_run_config: Mapping[str, Any] | None = None,
) -> Scaffold:
    """The run config `action` makes of `given` (SCAFFOLD starts from `default_run_config`)."""
    start = dict(given or {})
    if action is ConfigAction.SCAFFOLD:
        start = deep_merge({}, dict(default_run_config or {}))
    walker = _Walker(schema.get("$defs", {}), action)
    config = walker.root(dict(schema), start)
    return Scaffold(to_yaml(config), walker.missing, walker.removed)


class _Walker:
    def __init__(self, defs: dict[str, Any], action: ConfigAction):
        self.defs = defs
        self.action = action
        self.missing: list[tuple[str, str]] = []
        self.removed: list[str] = []

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:  # refs of refs, never a loop forever
            schema = self.defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
            seen += 1
        return schema

    def root(self, schema: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            full = name in _SCAFFOLD_IN_FULL and self.action is ConfigAction.SCAFFOLD
            value = self.obj(self.resolve(sub), given.get(name), name, full=full)
            if value:
                result[name] = value
        for name, value in given.items():
            if name not in properties:
                self.extra(name, value, result, closed=schema.get("additionalProperties") is False)
        return result

    def extra(self, path: str, value: Any, result: dict[str, Any], closed: bool) -> None:
        if closed and self.action is ConfigAction.REMOVE_EXTRA:
            self.removed.append(path)
        else:
            result[path.rsplit(".", 1)[-1]] = value

    def obj(self, schema: dict[str, Any], given: Any, path: str, full: bool) -> dict[str, Any]:
        """An object's config: what is given, walked; plus (in SCAFFOLD) defaults and, where
        the object must be given, its required fields as placeholders."""
        given = given if isinstance(given, dict) else {}
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        result: dict[str, Any] = {}
        for name, raw in properties.items():
            sub = self.resolve(raw)
            where = f"{path}.{name}"
            if name in given:
                result[name] = self.value(sub, given[name], where, full)
            elif full and "default" in raw:
                result[name] = raw["default"]
            elif full and "default" in sub:
                result[name] = sub["default"]
            elif self.action is ConfigAction.REMOVE_EXTRA:
                continue  # it only takes away
            elif name in required or (full and _is_object(sub)):
                filled = self.required(sub, where, full)
                if filled is not None and (name in required or filled):
                    result[name] = filled
        for name, value in given.items():
            if name not in properties:
                closed = schema.get("additionalProperties") is False
                self.extra(f"{path}.{name}", value, result, closed)
        return result

    def value(self, schema: dict[str, Any], given: Any, path: str, full: bool) -> Any:
        if isinstance(given, dict) and _is_object(schema):
            return self.obj(schema, given, path, full)
        if isinstance(given, dict) and "oneOf" in schema and len(given) == 1:
            choice = next(iter(given))
            for branch in (self.resolve(b) for b in schema["oneOf"]):
                if choice in branch.get("properties", {}):
                    return self.obj(branch, given, path, full=False)
        return given

    def required(self, schema: dict[str, Any], path: str, full: bool) -> Any:
        """The value of a required field nobody gave: its fields if it is an object of
        fields (a Shape), else a placeholder."""
        if _is_object(schema) and schema.get("properties"):
            return self.obj(schema, {}, path, full)
        if _is_object(schema):
            return {}
        label = type_label(schema, self.defs)
        self.missing.append((path, label))
        return Placeholder(label)


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and "oneOf" not in schema


def type_label(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """What a field takes, in a few words: "integer", "list of string", "one of: csv, table"."""
    if "$ref" in schema:
        return type_label(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), defs)
    if "enum" in schema:
        return "one of " + " | ".join(str(v) for v in schema["enum"])
    if "oneOf" in schema:
        names: list[str] = []
        for branch in schema["oneOf"]:
            resolved = defs.get(str(branch.get("$ref", "")).rsplit("/", 1)[-1], branch)
            names.extend(resolved.get("properties", {}) or [type_label(resolved, defs)])
        return "exactly one of: " + ", ".join(names)
    if "anyOf" in schema:
        kinds = [type_label(s, defs) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(kinds) + " (or null)"
    kind = schema.get("type")
    if kind == "array":
        return "list of " + type_label(schema.get("items", {}), defs)
    if kind == "object":
        return "mapping"
    return str(kind or "any value")


# -- YAML with placeholders ---------------------------------------------------------------------
def _scalar(value: Any) -> str:
    text = str(yaml.safe_dump(value, default_flow_style=True, width=10_000)).strip()
    return text.removesuffix("\n...")  # the end-of-document mark after a plain scalar


def to_yaml(config: dict[str, Any]) -> str:
    if not config:
        return "{}\n"
    lines: list[str] = []
    _emit(config, 0, lines)
    return "\n".join(lines) + "\n"


def _emit(mapping: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for key, value in mapping.items():
        name = _scalar(str(key))
        if isinstance(value, Placeholder):
            lines.append(f"{pad}{name}:  {PLACEHOLDER_MARK}{value.label}")
        elif isinstance(value, dict) and value:
            lines.append(f"{pad}{name}:")
            _emit(value, indent + 1, lines)
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")
