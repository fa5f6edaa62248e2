"""Reading a YAML config file (instance.yaml, workspace.yaml) into a pydantic model.

Environment variables are interpolated (`${VAR}`, `${VAR:-default}`, `$$`), and every
validation error names the file, its line, the dotted key, what was given and, for an
unknown key, the keys allowed there.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from opgraph.errors import InstanceConfigError

M = TypeVar("M", bound=BaseModel)
# The keys a model accepts at a location (by their YAML names).
AllowedKeys = Callable[[tuple[Any, ...]], list[str]]

_ENV_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def read_mapping(path: Path) -> tuple[yaml.Node, Any] | None:
    """The file's node tree (for line numbers) and its interpolated data; None if empty.

    Raises InstanceConfigError naming the line of malformed YAML or an unset variable;
    the caller checks that the data is a mapping (its message names what is expected).
    """
    root = _compose(path)
    if root is None:
        return None
    _interpolate(root, path)
    return root, yaml.SafeLoader("").construct_document(root)


def validate(
    model: type[M],
    path: Path,
    root: yaml.Node,
    data: dict[str, Any],
    what: str,
    allowed_keys: AllowedKeys | None = None,
    secret_keys: Iterable[str] = (),
) -> M:
    """`model.model_validate(data)`, or InstanceConfigError listing every error by line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        keys = allowed_keys or (lambda loc: allowed_keys_of(model, loc))
        secrets = set(secret_keys)
        located = sorted(
            ((line_of(root, tuple(e["loc"])), _describe(e, keys, secrets)) for e in exc.errors()),
            key=lambda item: item[0],
        )
        problems = [f"{path}:{line}: {text}" for line, text in located]
        raise InstanceConfigError(
            f"{path} is not a valid {what}:\n  " + "\n  ".join(problems)
        ) from None


def line_of(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """Line of the deepest node along `loc` that exists in the document."""
    node = root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def allowed_keys_of(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Keys the pydantic model reached from `model` along `loc` accepts."""
    for part in loc:
        if isinstance(part, int):
            continue
        model = field_model(model, part)
        if model is None:
            return []
    return list(model.model_fields) if is_model(model) else []


def field_model(model: Any, name: Any) -> Any:
    """The model (or type) of field `name` of `model`; None when there is no such field."""
    field = model.model_fields.get(name) if is_model(model) else None
    return None if field is None else unwrap(field.annotation)


def is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def unwrap(annotation: Any) -> Any:
    """`X | None`, `list[X]`, `Annotated[X, ...]` -> X."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list, Annotated, Literal):
        candidates = [arg for arg in get_args(annotation) if arg is not type(None)]
        return unwrap(candidates[0]) if candidates else annotation
    return annotation


def _describe(error: Any, allowed_keys: AllowedKeys, secret_keys: set[str]) -> str:
    loc = tuple(error["loc"])
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        return f"unknown key {dotted}; allowed keys: {', '.join(allowed) or '(none)'}"
    if error["type"] == "missing":
        return f"{dotted} is required"
    message = error["msg"].removeprefix("Value error, ")
    given = error["input"]
    if isinstance(given, dict | list):  # a whole section: the message says what is wrong
        return f"{dotted}: {message}"
    shown = "***" if loc and loc[-1] in secret_keys else repr(given)
    return f"{dotted}: {message} (given {shown})"


def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        context = ""
        if exc.context and exc.context_mark:
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise InstanceConfigError(
            f"{where}: malformed YAML: {exc.problem or exc}{context}"
        ) from None
    except yaml.YAMLError as exc:
        raise InstanceConfigError(f"{path}: malformed YAML: {exc}") from None


def _interpolate(node: yaml.Node, path: Path) -> None:
    """Replace `${VAR}` / `${VAR:-default}` in string values in place; `$$` is a literal $."""
    if isinstance(node, yaml.MappingNode):
        for _key, value in node.value:
            _interpolate(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _interpolate(item, path)
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise InstanceConfigError(
                f"{path}:{node.start_mark.line + 1}: environment variable {name} is not set "
                f"(set it, or give a default with ${{{name}:-default}})"
            )

        node.value = _ENV_PATTERN.sub(substitute, node.value)
