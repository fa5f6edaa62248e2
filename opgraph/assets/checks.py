"""@asset_check: an op that checks one asset and reports an AssetCheckResult."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opgraph.assets.decorators import _Signature, build_assets_op
from opgraph.assets.definition import AssetsDefinition, check_output_name
from opgraph.assets.keys import AssetCheckKey, AssetKey, to_asset_key
from opgraph.assets.specs import AssetCheckSpec, AssetIn
from opgraph.definitions.io import Nothing, Out
from opgraph.errors import DefinitionError
from opgraph.retries import RetryPolicy


class AssetChecksDefinition(AssetsDefinition):
    """Checks run as their own op. It materializes no asset; its outputs are check results."""

    @property
    def keys(self) -> frozenset[AssetKey]:
        return frozenset()

    @property
    def checked_keys(self) -> set[AssetKey]:
        return {spec.asset_key for spec in self.check_specs}

    @property
    def check_key(self) -> AssetCheckKey:
        (spec,) = self.check_specs
        return spec.key

    def __repr__(self) -> str:
        return f"<AssetChecksDefinition {sorted(k.to_user_string() for k in self.check_keys)}>"


def asset_check(
    *,
    asset: Any,
    name: str | None = None,
    description: str | None = None,
    blocking: bool = False,
    additional_ins: Mapping[str, AssetIn] | None = None,
    additional_deps: Iterable[Any] | None = None,
    required_resource_keys: set[str] | None = None,
    config_schema: Any = None,
    op_tags: Mapping[str, Any] | None = None,
    retry_policy: RetryPolicy | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], AssetChecksDefinition]:
    """Dagster's `@asset_check(asset=...)`. A parameter named after the asset (or the first
    data parameter) receives its value; without one the check runs after it, without data."""
    asset_key = to_asset_key(asset)

    def decorator(fn: Callable[..., Any]) -> AssetChecksDefinition:
        check_name = name or fn.__name__
        spec = AssetCheckSpec(
            check_name, asset_key, description or inspect.getdoc(fn), blocking, metadata=metadata
        )
        signature = _Signature(fn, f"asset check {check_name!r}", config_schema)
        ins = dict(additional_ins or {})
        data = [p for p in signature.data_params if p not in ins]
        if len(data) > 1:
            raise DefinitionError(
                f"asset check {check_name!r}: parameters {data} are not in additional_ins; "
                f"only one parameter may take the checked asset {asset_key.to_user_string()}"
            )
        if data:
            ins[data[0]] = AssetIn(key=asset_key)
        deps = [] if data else [asset_key]
        op_name = f"{'__'.join(asset_key.path)}_{check_name}".replace("-", "_")
        output = check_output_name(spec.key)
        op_def, keys_by_input, checks, _ = build_assets_op(
            fn=fn,
            op_name=op_name,
            signature=signature,
            ins=ins,
            deps=[*deps, *(additional_deps or ())],
            outs={output: Out(Nothing, is_required=False)},
            keys_by_output={output: asset_key},
            check_specs=(),
            description=spec.description,
            required_resource_keys=required_resource_keys,
            op_tags=op_tags,
            retry_policy=retry_policy,
        )
        del checks
        definition = AssetChecksDefinition(
            node_def=op_def,
            keys_by_output_name={},
            keys_by_input_name=keys_by_input,
            deps_by_key={},
            attributes_by_key={},
            check_specs_by_output_name={output: spec},
        )
        op_def.assets_def = definition  # type: ignore[attr-defined]
        return definition

    return decorator
