"""The asset graph of a code location: who materializes each key, and its edges.

Built once per Definitions; it is where duplicate keys, missing upstream assets and
cycles are found, each with an error naming the keys."""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from opgraph.assets.checks import AssetChecksDefinition
from opgraph.assets.definition import AssetAttributes, AssetsDefinition, dep_input_name
from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.assets.specs import AssetCheckSpec
from opgraph.errors import DefinitionError


class CircularDependencyError(DefinitionError, ValueError):
    """The asset graph has a cycle. Dagster lets the `toposort` package's error of this
    name (a ValueError) through, so a Dagster project catches it as ValueError; here it is
    also a DefinitionError (DagsterInvalidDefinitionError), as opgraph's errors all are."""


class AssetGraph:
    def __init__(self, assets_defs: Iterable[AssetsDefinition]):
        self.assets_defs: list[AssetsDefinition] = []
        self.checks_defs: list[AssetChecksDefinition] = []
        self.assets_def_by_key: dict[AssetKey, AssetsDefinition] = {}
        self.check_specs: dict[AssetCheckKey, AssetCheckSpec] = {}
        self.checks_def_by_check_key: dict[AssetCheckKey, AssetsDefinition] = {}
        for definition in assets_defs:
            if isinstance(definition, AssetChecksDefinition):
                self.checks_defs.append(definition)
            else:
                self.assets_defs.append(definition)
                for key in definition.keys:
                    if key in self.assets_def_by_key:
                        raise DefinitionError(
                            f"asset key {key.to_user_string()} is defined twice: by "
                            f"{self.assets_def_by_key[key]!r} and by {definition!r}"
                        )
                    self.assets_def_by_key[key] = definition
            for spec in definition.check_specs:
                if spec.key in self.check_specs:
                    raise DefinitionError(
                        f"asset check {spec.key.to_user_string()} is defined twice"
                    )
                self.check_specs[spec.key] = spec
                self.checks_def_by_check_key[spec.key] = definition
        self.parents: dict[AssetKey, frozenset[AssetKey]] = {}
        for definition in self.assets_defs:
            for key in definition.keys:
                self.parents[key] = frozenset(definition.deps_by_key.get(key, ()))
        self._check_upstreams()
        self.children: dict[AssetKey, set[AssetKey]] = {k: set() for k in self.all_keys}
        for key, parents in self.parents.items():
            for parent in parents:
                self.children.setdefault(parent, set()).add(key)
        try:
            self.toposorted = list(TopologicalSorter(self.parents).static_order())
        except CycleError as exc:
            cycle = " -> ".join(k.to_user_string() for k in exc.args[1])
            raise CircularDependencyError(f"the asset graph has a cycle: {cycle}") from exc
        for spec in self.check_specs.values():
            if spec.asset_key not in self.assets_def_by_key:
                raise DefinitionError(
                    f"asset check {spec.key.to_user_string()} checks "
                    f"{spec.asset_key.to_user_string()}, which no asset here defines"
                )

    def _check_upstreams(self) -> None:
        """A parameter loading an asset nothing defines cannot run; an ordering-only
        `deps=` entry on an undefined key is an external asset (as in Dagster)."""
        for definition in self.assets_defs + list(self.checks_defs):
            op_ins = getattr(definition.node_def, "ins", {})
            for input_name, key in definition.keys_by_input_name.items():
                spec = op_ins.get(input_name)
                is_data = (spec is None or not spec.is_nothing) and input_name != dep_input_name(
                    key
                )
                if is_data and key not in self.assets_def_by_key:
                    raise DefinitionError(
                        f"{definition!r}: input {input_name!r} loads asset "
                        f"{key.to_user_string()}, which no asset here defines "
                        f"(defined: {sorted(k.to_user_string() for k in self.assets_def_by_key)})"
                    )

    @property
    def all_keys(self) -> set[AssetKey]:
        return set(self.assets_def_by_key) | {k for ps in self.parents.values() for k in ps}

    @property
    def materializable_keys(self) -> set[AssetKey]:
        return {k for k, d in self.assets_def_by_key.items() if d.is_executable}

    def attributes(self, key: AssetKey) -> AssetAttributes:
        definition = self.assets_def_by_key.get(key)
        if definition is None:
            return AssetAttributes()
        return definition.attributes_by_key[key]

    def upstream(self, keys: Iterable[AssetKey], depth: int | None) -> set[AssetKey]:
        return self._walk(keys, self.parents, depth)

    def downstream(self, keys: Iterable[AssetKey], depth: int | None) -> set[AssetKey]:
        return self._walk(keys, self.children, depth)

    @staticmethod
    def _walk(keys: Iterable[AssetKey], edges: dict, depth: int | None) -> set[AssetKey]:
        found = set(keys)
        frontier = set(found)
        level = 0
        while frontier and (depth is None or level < depth):
            frontier = {n for k in frontier for n in edges.get(k, ())} - found
            found |= frontier
            level += 1
        return found
