"""AssetKey and AssetCheckKey: the names assets and checks are found by everywhere."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opgraph.errors import DefinitionError

# Dagster's rule for each path component: letters, digits, underscores (and dashes).
_COMPONENT = re.compile(r"^[A-Za-z0-9_\-.]+$")


@dataclass(frozen=True, order=True)
class AssetKey:
    """A path of names, e.g. AssetKey(["warehouse", "orders"]) shown as `warehouse/orders`.

    `path` is a list, as in Dagster (user code writes `key.path + ["snapshot"]`); it is not
    to be changed in place: the key's hash is taken once."""

    path: list[str]
    _hash: int = field(init=False, repr=False, compare=False)

    def __init__(self, path: str | Sequence[str]):
        parts = [path] if isinstance(path, str) else list(path)
        if not parts or not all(isinstance(p, str) and _COMPONENT.match(p) for p in parts):
            # Dagster would take "raw/orders" as one name; here "/" only ever separates
            # names, so `raw/orders` written anywhere (CLI, UI, storage folder) is one key.
            slash = any(isinstance(p, str) and "/" in p for p in parts)
            raise DefinitionError(
                f"asset key {path!r}: expected a non-empty list of names made of letters, "
                "digits, '_', '-' or '.'"
                + (
                    "; for a key of several names write AssetKey(['raw', 'orders']) or "
                    "AssetKey.from_user_string('raw/orders')"
                    if slash
                    else ""
                )
            )
        object.__setattr__(self, "path", parts)
        object.__setattr__(self, "_hash", hash(tuple(parts)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return AssetKey, (self.path,)  # hashed again where unpickled (hash seeds differ)

    def to_user_string(self) -> str:
        return "/".join(self.path)

    def to_string(self) -> str:
        return json.dumps(list(self.path))

    @staticmethod
    def from_user_string(text: str) -> AssetKey:
        return AssetKey(text.split("/"))

    @staticmethod
    def from_coercible(value: Any) -> AssetKey:
        return to_asset_key(value)

    def has_prefix(self, prefix: Sequence[str]) -> bool:
        return self.path[: len(prefix)] == list(prefix)

    def to_python_identifier(self, suffix: str | None = None) -> str:
        """`a/b-c` as `a__b_c`: the op name Dagster gives an asset of this key."""
        parts = [*self.path, suffix] if suffix is not None else list(self.path)
        return "__".join(parts).replace("-", "_").replace(".", "_")

    def with_prefix(self, prefix: str | Sequence[str]) -> AssetKey:
        parts = [prefix] if isinstance(prefix, str) else list(prefix)
        return AssetKey([*parts, *self.path])

    def __repr__(self) -> str:
        return f"AssetKey({list(self.path)!r})"

    # As Dagster's: user code prints keys in logs and compares them in tests. Messages
    # meant to read as a key write to_user_string() (`raw/orders`).
    __str__ = __repr__


@dataclass(frozen=True, order=True)
class AssetCheckKey:
    asset_key: AssetKey
    name: str

    def to_user_string(self) -> str:
        return f"{self.asset_key.to_user_string()}:{self.name}"


def to_asset_key(value: Any) -> AssetKey:
    """An AssetKey from a key, a `a/b` string, a list of names, or anything with a `.key`.

    A string is split at "/" (Dagster keeps "a/b" as one name outside AssetSelection.keys):
    a name with a "/" in it could not be told from a key of two names by the CLI, the UI
    or the storage folder of the key. In Dagster such a key fails at definition (it is no
    valid op or input name) or names no asset an asset function makes: only keys of external
    specs and of events an op logs see the difference, the same way wherever they appear."""
    if isinstance(value, AssetKey):
        return value
    if isinstance(value, str):
        return AssetKey.from_user_string(value)
    if isinstance(value, (list, tuple)):
        return AssetKey(list(value))
    key = getattr(value, "key", None)
    if isinstance(key, AssetKey):
        return key
    raise DefinitionError(
        f"expected an asset key (AssetKey, 'a/b' string, list of names, asset or spec), "
        f"got {value!r}"
    )
