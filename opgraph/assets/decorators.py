"""@asset and @multi_asset: an asset function becomes an op plus the keys it materializes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from opgraph.assets.compute import asset_compute_fn
from opgraph.assets.definition import (
    AssetAttributes,
    AssetsDefinition,
    check_output_name,
    dep_input_name,
)
from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.assets.partitioning import set_partitioning
from opgraph.assets.results import MaterializeResult
from opgraph.assets.specs import (
    AssetCheckSpec,
    AssetIn,
    AssetOut,
    AssetSpec,
    dep_partition_mappings,
    to_asset_keys,
)
from opgraph.config import normalize_config_schema
from opgraph.definitions.io import In, Nothing, Out
from opgraph.definitions.op import OpDefinition
from opgraph.errors import DefinitionError
from opgraph.resources import ConfigurableResource
from opgraph.retries import RetryPolicy

_CONTEXT_NAMES = ("context", "_context", "ctx")


class _Signature:
    """What an asset function's parameters are: context, config, resources, upstream data."""

    def __init__(self, fn: Callable[..., Any], owner: str, config_schema: Any):
        try:  # string annotations (`from __future__ import annotations`) resolved
            signature = inspect.signature(fn, eval_str=True)
        except (NameError, TypeError):
            signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        self.takes_context = bool(params) and params[0].name in _CONTEXT_NAMES
        if self.takes_context:
            params = params[1:]
        self.config_param: str | None = None
        self.config_schema = config_schema
        self.resource_params: dict[str, str] = {}
        self.data_params: list[str] = []
        for param in params:
            annotation = param.annotation
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if isinstance(annotation, type) and issubclass(annotation, ConfigurableResource):
                self.resource_params[param.name] = param.name
            elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
                if config_schema is not None:
                    raise DefinitionError(
                        f"{owner} has both config_schema and a Config parameter; use one"
                    )
                self.config_schema, self.config_param = annotation, param.name
            else:
                self.data_params.append(param.name)
        returns = signature.return_annotation
        # `-> None` or `-> MaterializeResult`: the function stores its data itself.
        self.returns_nothing = returns in (None, "None", MaterializeResult, "MaterializeResult")


def _prefixed(key: AssetKey, key_prefix: str | Sequence[str] | None) -> AssetKey:
    return key.with_prefix(key_prefix) if key_prefix else key


def build_assets_op(
    *,
    fn: Callable[..., Any],
    op_name: str,
    signature: _Signature,
    ins: Mapping[str, AssetIn],
    deps: Iterable[Any],
    outs: Mapping[str, Out],
    keys_by_output: Mapping[str, AssetKey],
    check_specs: Sequence[AssetCheckSpec],
    description: str | None,
    required_resource_keys: set[str] | None,
    op_tags: Mapping[str, Any] | None,
    retry_policy: RetryPolicy | None,
) -> tuple[OpDefinition, dict[str, AssetKey], dict[str, AssetCheckSpec], list[AssetKey]]:
    unknown = set(ins) - set(signature.data_params)
    if unknown:
        raise DefinitionError(
            f"asset op {op_name!r}: ins {sorted(unknown)} are not parameters of its function "
            f"(its parameters are {signature.data_params})"
        )
    op_ins: dict[str, In] = {}
    keys_by_input: dict[str, AssetKey] = {}
    for name in signature.data_params:
        asset_in = ins.get(name, AssetIn())
        keys_by_input[name] = asset_in.resolve_key(name)
        op_ins[name] = In(
            dagster_type=asset_in.dagster_type,
            metadata=dict(asset_in.metadata or {}),
            input_manager_key=asset_in.input_manager_key,
        )
    dep_keys = [k for k in to_asset_keys(deps) if k not in keys_by_input.values()]
    for key in dep_keys:
        op_ins[dep_input_name(key)] = In(Nothing)
        keys_by_input[dep_input_name(key)] = key
    op_outs = dict(outs)
    checks_by_output: dict[str, AssetCheckSpec] = {}
    for spec in check_specs:
        if spec.asset_key not in keys_by_output.values():
            raise DefinitionError(
                f"asset op {op_name!r}: check {spec.name!r} is of "
                f"{spec.asset_key.to_user_string()}, which this op does not materialize"
            )
        name = check_output_name(spec.key)
        op_outs[name] = Out(Nothing, is_required=False)
        checks_by_output[name] = spec
    op_def = OpDefinition(
        compute_fn=asset_compute_fn(fn, signature.takes_context),
        name=op_name,
        ins=op_ins,
        outs=op_outs,
        config_schema=normalize_config_schema(signature.config_schema, op_name),
        config_param=signature.config_param,
        takes_context=True,
        description=description,
        required_resource_keys=frozenset(required_resource_keys or ()),
        resource_params=signature.resource_params,
        tags=op_tags,
        retry_policy=retry_policy,
    )
    op_def.user_fn = fn  # type: ignore[attr-defined]
    op_def.user_takes_context = signature.takes_context  # type: ignore[attr-defined]
    return op_def, keys_by_input, checks_by_output, dep_keys


def asset(
    compute_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    key: Any = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    deps: Iterable[Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    config_schema: Any = None,
    required_resource_keys: set[str] | None = None,
    io_manager_key: str | None = None,
    group_name: str | None = None,
    code_version: str | None = None,
    kinds: set[str] | None = None,
    owners: Sequence[str] | None = None,
    op_tags: Mapping[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
    check_specs: Sequence[AssetCheckSpec] | None = None,
    dagster_type: Any = None,
    output_required: bool = True,
    partitions_def: Any = None,
    automation_condition: Any = None,
    backfill_policy: Any = None,
) -> Any:
    """Dagster's `@asset`: a function that computes one asset from its upstream assets."""

    def decorator(fn: Callable[..., Any]) -> AssetsDefinition:
        if key is not None and (name or key_prefix):
            raise DefinitionError(
                f"asset {fn.__name__!r}: give either key= or name=/key_prefix=, not both"
            )
        asset_key = (
            to_asset_key(key)
            if key is not None
            else _prefixed(AssetKey([name or fn.__name__]), key_prefix)
        )
        # Dagster's op name: the key as an identifier (`raw/orders` runs as `raw__orders`),
        # which is what run config's `ops:` and step keys name.
        op_name = asset_key.to_python_identifier()
        signature = _Signature(fn, f"asset {asset_key.to_user_string()!r}", config_schema)
        out = Out(
            dagster_type=Nothing if signature.returns_nothing else dagster_type,
            io_manager_key=io_manager_key or "io_manager",
            metadata=dict(metadata or {}),
            is_required=output_required,
        )
        desc = description or inspect.getdoc(fn)
        op_def, keys_by_input, checks, _ = build_assets_op(
            fn=fn,
            op_name=op_name,
            signature=signature,
            ins=ins or {},
            deps=deps or (),
            outs={"result": out},
            keys_by_output={"result": asset_key},
            check_specs=check_specs or (),
            description=desc,
            required_resource_keys=required_resource_keys,
            op_tags=op_tags,
            retry_policy=retry_policy,
        )
        attributes = AssetAttributes.build(
            description=desc,
            group_name=group_name,
            metadata=metadata,
            tags=tags,
            kinds=kinds,
            owners=owners,
            code_version=code_version,
            automation_condition=automation_condition,
        )
        assets_def = AssetsDefinition(
            node_def=op_def,
            keys_by_output_name={"result": asset_key},
            keys_by_input_name=keys_by_input,
            deps_by_key={asset_key: set(keys_by_input.values())},
            attributes_by_key={asset_key: attributes},
            check_specs_by_output_name=checks,
        )
        set_partitioning(
            assets_def, partitions_def, ins, backfill_policy, dep_partition_mappings(deps)
        )
        op_def.assets_def = assets_def  # type: ignore[attr-defined]
        return assets_def

    return decorator(compute_fn) if compute_fn is not None else decorator


def multi_asset(
    *,
    outs: Mapping[str, AssetOut] | None = None,
    specs: Sequence[AssetSpec] | None = None,
    name: str | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    deps: Iterable[Any] | None = None,
    description: str | None = None,
    config_schema: Any = None,
    required_resource_keys: set[str] | None = None,
    group_name: str | None = None,
    can_subset: bool = False,
    op_tags: Mapping[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
    check_specs: Sequence[AssetCheckSpec] | None = None,
    partitions_def: Any = None,
    automation_condition: Any = None,
    backfill_policy: Any = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """Dagster's `@multi_asset`: one function materializing several assets."""
    if bool(outs) == bool(specs):
        raise DefinitionError("multi_asset takes outs= or specs= (exactly one of them)")

    def decorator(fn: Callable[..., Any]) -> AssetsDefinition:
        op_name = name or fn.__name__
        signature = _Signature(fn, f"multi_asset {op_name!r}", config_schema)
        op_outs: dict[str, Out] = {}
        keys_by_output: dict[str, AssetKey] = {}
        attributes: dict[AssetKey, AssetAttributes] = {}
        spec_deps: dict[AssetKey, tuple[AssetKey, ...]] = {}
        for out_name, asset_out in (outs or {}).items():
            key = asset_out.resolve_key(out_name)
            keys_by_output[out_name] = key
            op_outs[out_name] = Out(
                dagster_type=asset_out.dagster_type,
                description=asset_out.description,
                is_required=asset_out.is_required and not can_subset,
                io_manager_key=asset_out.io_manager_key or "io_manager",
                metadata=dict(asset_out.metadata or {}),
            )
            attributes[key] = AssetAttributes.of(asset_out, group_name, automation_condition)
        for spec in specs or ():
            out_name = "__".join(spec.key.path).replace("-", "_")
            keys_by_output[out_name] = spec.key
            spec_deps[spec.key] = tuple(dep.asset_key for dep in spec.deps)
            # Specs have no value to store: the function writes the data itself.
            op_outs[out_name] = Out(
                Nothing,
                is_required=not (can_subset or spec.skippable),
                metadata=dict(spec.metadata),
            )
            attributes[spec.key] = AssetAttributes.of(spec, group_name, automation_condition)
        all_deps = [*(deps or ()), *{d for ds in spec_deps.values() for d in ds}]
        op_def, keys_by_input, checks, dep_keys = build_assets_op(
            fn=fn,
            op_name=op_name,
            signature=signature,
            ins=ins or {},
            deps=all_deps,
            outs=op_outs,
            keys_by_output=keys_by_output,
            check_specs=check_specs or (),
            description=description or inspect.getdoc(fn),
            required_resource_keys=required_resource_keys,
            op_tags=op_tags,
            retry_policy=retry_policy,
        )
        shared = {k for k in keys_by_input.values() if k not in set().union(*spec_deps.values())}
        deps_by_key = {key: set(spec_deps.get(key, ())) | shared for key in keys_by_output.values()}
        if not specs:
            deps_by_key = {key: set(keys_by_input.values()) for key in keys_by_output.values()}
        del dep_keys
        assets_def = AssetsDefinition(
            node_def=op_def,
            keys_by_output_name=keys_by_output,
            keys_by_input_name=keys_by_input,
            deps_by_key=deps_by_key,
            attributes_by_key=attributes,
            check_specs_by_output_name=checks,
            can_subset=can_subset,
        )
        dep_mappings = dep_partition_mappings(deps)
        for spec in specs or ():
            dep_mappings.update(spec.partition_mappings)
        set_partitioning(assets_def, partitions_def, ins, backfill_policy, dep_mappings)
        op_def.assets_def = assets_def  # type: ignore[attr-defined]
        return assets_def

    return decorator
