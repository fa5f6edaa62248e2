"""AssetSelection: which assets a job or a launch materializes (Dagster's algebra)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.errors import DefinitionError

if TYPE_CHECKING:
    from opgraph.assets.asset_graph import AssetGraph

_Resolver = Callable[["AssetGraph"], set[AssetKey]]


class AssetSelection:
    def __init__(self, resolve: _Resolver, text: str):
        self._resolve = resolve
        self._text = text

    def resolve(self, all_assets: Any) -> set[AssetKey]:
        """The keys this selects in an asset graph, or (as Dagster allows) in a list of
        assets definitions and specs."""
        if isinstance(all_assets, (list, tuple, set, frozenset)):
            from opgraph.assets.asset_graph import AssetGraph

            return self._resolve(AssetGraph(_definitions(all_assets)))
        return self._resolve(all_assets)  # an AssetGraph, or a NodeGraph read from JSON

    def __repr__(self) -> str:
        return f"AssetSelection({self._text})"

    # -- leaves -----------------------------------------------------------------------------
    @staticmethod
    def all() -> AssetSelection:
        return AssetSelection(lambda g: set(g.materializable_keys), "*")

    @staticmethod
    def keys(*keys: Any) -> AssetSelection:
        wanted = {to_asset_key(k) for k in keys}

        def resolve(graph: AssetGraph) -> set[AssetKey]:
            missing = wanted - graph.all_keys
            if missing:
                raise DefinitionError(
                    f"asset selection names keys no asset defines: "
                    f"{sorted(k.to_user_string() for k in missing)}"
                )
            return set(wanted)

        return AssetSelection(resolve, ", ".join(sorted(k.to_user_string() for k in wanted)))

    @staticmethod
    def assets(*defs: Any) -> AssetSelection:
        keys = [k for d in defs for k in (d.keys if hasattr(d, "keys") else [to_asset_key(d)])]
        return AssetSelection.keys(*keys)

    @staticmethod
    def groups(*names: str) -> AssetSelection:
        wanted = set(names)
        return AssetSelection(
            lambda g: {k for k in g.materializable_keys if g.attributes(k).group_name in wanted},
            "groups:" + ",".join(sorted(wanted)),
        )

    @staticmethod
    def key_prefixes(*prefixes: str | Sequence[str]) -> AssetSelection:
        paths = [[p] if isinstance(p, str) else list(p) for p in prefixes]
        return AssetSelection(
            lambda g: {k for k in g.materializable_keys if any(k.has_prefix(p) for p in paths)},
            "prefixes:" + ",".join("/".join(p) for p in paths),
        )

    @staticmethod
    def tag(key: str, value: str) -> AssetSelection:
        return AssetSelection(
            lambda g: {k for k in g.materializable_keys if g.attributes(k).tags.get(key) == value},
            f"tag:{key}={value}",
        )

    @staticmethod
    def kind(kind: str) -> AssetSelection:
        return AssetSelection(
            lambda g: {k for k in g.materializable_keys if kind in g.attributes(k).kinds},
            f"kind:{kind}",
        )

    # -- graph walks ------------------------------------------------------------------------
    def upstream(self, depth: int | None = None, include_self: bool = True) -> AssetSelection:
        def resolve(g: AssetGraph) -> set[AssetKey]:
            start = self.resolve(g)
            found = g.upstream(start, depth)
            # Dagster keeps only what can be materialized: external assets upstream (and
            # an external start) are left out.
            return (found if include_self else found - start) & g.materializable_keys

        return AssetSelection(resolve, f"+{self._text}")

    def downstream(self, depth: int | None = None, include_self: bool = True) -> AssetSelection:
        def resolve(g: AssetGraph) -> set[AssetKey]:
            start = self.resolve(g)
            found = g.downstream(start, depth)
            return found if include_self else found - start

        return AssetSelection(resolve, f"{self._text}+")

    def required_multi_asset_neighbors(self) -> AssetSelection:
        def resolve(g: AssetGraph) -> set[AssetKey]:
            keys = self.resolve(g)
            for key in list(keys):
                definition = g.assets_def_by_key.get(key)
                if definition is not None and not definition.can_subset:
                    keys |= set(definition.keys)
            return keys

        return AssetSelection(resolve, f"neighbors({self._text})")

    def roots(self) -> AssetSelection:
        def resolve(g: AssetGraph) -> set[AssetKey]:
            keys = self.resolve(g)
            return {k for k in keys if not (g.parents.get(k, frozenset()) & keys)}

        return AssetSelection(resolve, f"roots({self._text})")

    def sinks(self) -> AssetSelection:
        def resolve(g: AssetGraph) -> set[AssetKey]:
            keys = self.resolve(g)
            return {k for k in keys if not (g.children.get(k, set()) & keys)}

        return AssetSelection(resolve, f"sinks({self._text})")

    # -- algebra ----------------------------------------------------------------------------
    def __or__(self, other: AssetSelection) -> AssetSelection:
        return AssetSelection(lambda g: self.resolve(g) | other.resolve(g), f"{self} | {other}")

    def __and__(self, other: AssetSelection) -> AssetSelection:
        return AssetSelection(lambda g: self.resolve(g) & other.resolve(g), f"{self} & {other}")

    def __sub__(self, other: AssetSelection) -> AssetSelection:
        return AssetSelection(lambda g: self.resolve(g) - other.resolve(g), f"{self} - {other}")

    def __str__(self) -> str:
        return self._text


def _definitions(values: Iterable[Any]) -> list[Any]:
    from opgraph.assets.definition import to_assets_definitions

    return to_assets_definitions(values, "AssetSelection.resolve")


def to_selection(value: Any) -> AssetSelection:
    """`selection=` as Dagster takes it: an AssetSelection, a text, or a list of keys/defs."""
    if isinstance(value, AssetSelection):
        return value
    if value is None or value == "*":
        return AssetSelection.all()
    if isinstance(value, str):
        return parse_selection(value)
    if isinstance(value, Iterable):
        return AssetSelection.assets(*value)
    raise DefinitionError(
        f"selection: expected an AssetSelection, a selection string or a list of assets, "
        f"got {value!r}"
    )


def parse_selection(text: str) -> AssetSelection:
    """The CLI's selection syntax: `key`, `+key` / `key+` (up/downstream, `++` for depth 2,
    `*key` / `key*` for all), `group:name`, `prefix:a/b`, `tag:k=v`, `kind:x`, joined by `|`
    (union) or `,`. Example: `raw/orders+ | group:marts`."""
    parts = [p.strip() for chunk in text.split("|") for p in chunk.split(",") if p.strip()]
    if not parts:
        raise DefinitionError(f"asset selection {text!r}: expected at least one key or clause")
    result: AssetSelection | None = None
    for part in parts:
        clause = _parse_clause(part)
        result = clause if result is None else result | clause
    assert result is not None
    return result


def _parse_clause(part: str) -> AssetSelection:
    for name, build in (
        ("group:", lambda v: AssetSelection.groups(v)),
        ("prefix:", lambda v: AssetSelection.key_prefixes(v.split("/"))),
        ("kind:", lambda v: AssetSelection.kind(v)),
    ):
        if part.startswith(name):
            return build(part[len(name) :])
    if part.startswith("tag:"):
        key, _, value = part[4:].partition("=")
        return AssetSelection.tag(key, value)
    if part == "*":
        return AssetSelection.all()
    up = len(part) - len(part.lstrip("+*"))
    down = len(part) - len(part.rstrip("+*"))
    core = part[up : len(part) - down] if down else part[up:]
    selection = AssetSelection.keys(core)
    if up:
        selection = selection.upstream(None if part.startswith("*") else up)
    if down:
        selection = selection.downstream(None if part.endswith("*") else down)
    return selection
