"""AssetsDefinition: one op (or graph) and the asset keys its outputs materialize."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.assets.specs import KIND_TAG_PREFIX, AssetCheckSpec, AssetSpec
from opgraph.errors import DefinitionError


@dataclass(frozen=True)
class AssetAttributes:
    """What the catalog shows of one asset (from its decorator or spec)."""

    description: str | None = None
    group_name: str = "default"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()
    code_version: str | None = None
    skippable: bool = False
    automation_condition: Any = None  # an opgraph.automation AutomationCondition

    @classmethod
    def build(
        cls,
        *,
        description: str | None = None,
        group_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[str] | None = None,
        owners: Iterable[str] | None = None,
        code_version: str | None = None,
        skippable: bool = False,
        automation_condition: Any = None,
    ) -> AssetAttributes:
        """From a decorator's arguments (None: the default)."""
        return cls(
            description=description,
            group_name=group_name or "default",
            metadata=dict(metadata or {}),
            # The catalog shows kinds as kinds: a spec's `dagster/kind/*` tags are its kinds.
            tags={k: v for k, v in (tags or {}).items() if not k.startswith(KIND_TAG_PREFIX)},
            kinds=frozenset(kinds or ())
            | {k[len(KIND_TAG_PREFIX) :] for k in tags or () if k.startswith(KIND_TAG_PREFIX)},
            owners=tuple(owners or ()),
            code_version=code_version,
            skippable=skippable,
            automation_condition=_checked_condition(automation_condition),
        )

    @classmethod
    def of(
        cls, source: Any, group_name: str | None = None, automation_condition: Any = None
    ) -> AssetAttributes:
        """From an AssetOut or AssetSpec; its own group_name (and automation_condition) win
        over the decorator's."""
        return cls.build(
            description=source.description,
            group_name=source.group_name or group_name,
            metadata=source.metadata,
            tags=source.tags,
            kinds=source.kinds,
            owners=source.owners,
            code_version=source.code_version,
            skippable=getattr(source, "skippable", False),
            automation_condition=getattr(source, "automation_condition", None)
            or automation_condition,
        )


def _checked_condition(condition: Any) -> Any:
    from opgraph.automation.condition import AutomationCondition

    if condition is not None and not isinstance(condition, AutomationCondition):
        raise DefinitionError(
            f"automation_condition must be an AutomationCondition (e.g. "
            f"AutomationCondition.eager()), got {condition!r}"
        )
    return condition


def check_output_name(check_key: AssetCheckKey) -> str:
    """The op output that carries one check's result (a Nothing output)."""
    return "check__" + "__".join([*check_key.asset_key.path, check_key.name]).replace("-", "_")


def dep_input_name(key: AssetKey) -> str:
    """The Nothing input that orders an asset after a `deps=` upstream."""
    return "dep__" + "__".join(key.path).replace("-", "_").replace(".", "_")


class AssetsDefinition:
    """The assets one op or graph materializes (`@asset`, `@multi_asset`, `@graph_asset`),
    or, with no node, external assets (`AssetSpec`s) nothing here can materialize."""

    # Set by the decorators' partitions_def= (opgraph.partitions): how the assets are
    # partitioned, and the partition mapping of an upstream key when one was given.
    partitions_def: Any = None
    partition_mappings: Mapping[AssetKey, Any] = MappingProxyType({})
    # backfill_policy= (opgraph.partitions.backfill_policy): how a backfill groups its
    # partitions into runs; None: one run per partition.
    backfill_policy: Any = None

    def __init__(
        self,
        *,
        node_def: Any,
        keys_by_output_name: Mapping[str, AssetKey],
        keys_by_input_name: Mapping[str, AssetKey],
        deps_by_key: Mapping[AssetKey, Iterable[AssetKey]],
        attributes_by_key: Mapping[AssetKey, AssetAttributes],
        check_specs_by_output_name: Mapping[str, AssetCheckSpec] | None = None,
        can_subset: bool = False,
        selected_keys: Iterable[AssetKey] | None = None,
    ):
        self.node_def = node_def
        self.keys_by_output_name = dict(keys_by_output_name)
        self.keys_by_input_name = dict(keys_by_input_name)
        self.deps_by_key = {k: frozenset(v) for k, v in deps_by_key.items()}
        self.attributes_by_key = dict(attributes_by_key)
        self.check_specs_by_output_name = dict(check_specs_by_output_name or {})
        self.can_subset = can_subset
        all_keys = set(self.attributes_by_key)
        self.selected_keys = frozenset(selected_keys) if selected_keys is not None else all_keys
        self.output_names_by_key = {k: n for n, k in self.keys_by_output_name.items()}

    # -- Dagster's read API ----------------------------------------------------------------
    @property
    def keys(self) -> frozenset[AssetKey]:
        return frozenset(self.selected_keys)

    @property
    def key(self) -> AssetKey:
        if len(self.keys) != 1:
            raise DefinitionError(
                f"this definition has {len(self.keys)} assets "
                f"({sorted(k.to_user_string() for k in self.keys)}); use .keys"
            )
        return next(iter(self.keys))

    @property
    def is_executable(self) -> bool:
        return self.node_def is not None

    @property
    def op(self) -> Any:
        return self.node_def

    @property
    def node_name(self) -> str:
        return self.node_def.name if self.node_def is not None else ""

    @property
    def dependency_keys(self) -> frozenset[AssetKey]:
        return frozenset(d for k in self.keys for d in self.deps_by_key.get(k, ()))

    @property
    def check_specs(self) -> list[AssetCheckSpec]:
        return list(self.check_specs_by_output_name.values())

    @property
    def check_keys(self) -> set[AssetCheckKey]:
        return {spec.key for spec in self.check_specs}

    @property
    def group_names_by_key(self) -> dict[AssetKey, str]:
        return {k: self.attributes_by_key[k].group_name for k in self.keys}

    @property
    def descriptions_by_key(self) -> dict[AssetKey, str | None]:
        return {k: self.attributes_by_key[k].description for k in self.keys}

    @property
    def metadata_by_key(self) -> dict[AssetKey, Mapping[str, Any]]:
        return {k: self.attributes_by_key[k].metadata for k in self.keys}

    @property
    def code_versions_by_key(self) -> dict[AssetKey, str | None]:
        return {k: self.attributes_by_key[k].code_version for k in self.keys}

    @property
    def specs(self) -> list[AssetSpec]:
        specs = []
        for key in sorted(self.keys):
            attrs = self.attributes_by_key[key]
            specs.append(
                AssetSpec(
                    key,
                    deps=sorted(self.deps_by_key.get(key, ())),
                    description=attrs.description,
                    metadata=attrs.metadata,
                    group_name=attrs.group_name,
                    code_version=attrs.code_version,
                    owners=attrs.owners,
                    tags=attrs.tags,
                    kinds=set(attrs.kinds),
                )
            )
        return specs

    def subset(self, keys: Iterable[AssetKey]) -> AssetsDefinition:
        """This definition materializing only `keys` (each must be one of its keys)."""
        wanted = frozenset(keys)
        if wanted == self.keys:
            return self
        if not self.can_subset:
            raise DefinitionError(
                f"asset selection includes {sorted(k.to_user_string() for k in wanted)} but "
                f"not all of {sorted(k.to_user_string() for k in self.keys)}, which "
                f"{self.node_name!r} materializes together (it is not can_subset=True); "
                "select all of them (AssetSelection...required_multi_asset_neighbors())"
            )
        copy = AssetsDefinition.__new__(AssetsDefinition)
        copy.__dict__.update(self.__dict__)
        copy.selected_keys = wanted
        from opgraph.definitions.graph import GraphDefinition

        if isinstance(self.node_def, GraphDefinition):
            # A graph runs only the ops the selected assets need (Dagster's graph subset).
            from opgraph.assets.graph_assets import graph_subset

            outs = [n for n, k in self.keys_by_output_name.items() if k in wanted]
            copy.node_def = graph_subset(self.node_def, outs)
            copy.keys_by_output_name = {n: self.keys_by_output_name[n] for n in outs}
            copy.keys_by_input_name = {
                n: k for n, k in self.keys_by_input_name.items() if n in copy.node_def.input_names
            }
            copy.output_names_by_key = {k: n for n, k in copy.keys_by_output_name.items()}
        return copy

    def with_attributes(self, group_name: str | None = None) -> AssetsDefinition:
        copy = AssetsDefinition.__new__(AssetsDefinition)
        copy.__dict__.update(self.__dict__)
        if group_name is not None:
            copy.attributes_by_key = {
                k: replace(a, group_name=group_name) for k, a in self.attributes_by_key.items()
            }
        return copy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Direct invocation (unit tests): run the asset's own function."""
        if self.node_def is None:
            raise DefinitionError("an external asset (AssetSpec) has no function to call")
        user_fn = getattr(self.node_def, "user_fn", None)
        if user_fn is None:  # a graph asset: called inside a composition
            return self.node_def(*args, **kwargs)
        call_args = list(args)
        if getattr(self.node_def, "user_takes_context", False):
            from opgraph.assets.context import AssetExecutionContext
            from opgraph.context import build_op_context

            given = call_args.pop(0) if call_args and hasattr(call_args[0], "log") else None
            op_context = getattr(given, "op_execution_context", given) or build_op_context()
            call_args.insert(0, AssetExecutionContext(op_context, self))
        return user_fn(*call_args, **kwargs)

    def __repr__(self) -> str:
        keys = ", ".join(sorted(k.to_user_string() for k in self.keys))
        return f"<AssetsDefinition {keys}>"


def to_assets_definitions(values: Iterable[Any], where: str) -> list[AssetsDefinition]:
    """Assets definitions from what a user lists as assets: definitions, and specs (each
    an asset defined elsewhere)."""
    out: list[AssetsDefinition] = []
    for value in values:
        if isinstance(value, AssetSpec):
            out.extend(external_assets([value]))
        elif isinstance(value, AssetsDefinition):
            out.append(value)
        else:
            raise DefinitionError(
                f"{where}: expected @asset, @multi_asset, @graph_asset definitions or "
                f"AssetSpec, got {value!r}"
            )
    return out


def external_assets(specs: Iterable[AssetSpec]) -> list[AssetsDefinition]:
    """AssetSpecs given to Definitions(assets=...): assets defined elsewhere."""
    out = []
    for spec in specs:
        attributes = AssetAttributes.of(spec)
        out.append(
            AssetsDefinition(
                node_def=None,
                keys_by_output_name={},
                keys_by_input_name={},
                deps_by_key={spec.key: [dep.asset_key for dep in spec.deps]},
                attributes_by_key={spec.key: attributes},
            )
        )
    return out
