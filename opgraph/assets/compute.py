"""The op function of an asset: calls the user's function with an AssetExecutionContext
and turns what it returns (values, Output, MaterializeResult, AssetCheckResult) into the
outputs the step runner stores and reports."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from opgraph.assets.context import AssetExecutionContext
from opgraph.assets.definition import AssetsDefinition
from opgraph.assets.keys import AssetKey
from opgraph.assets.results import (
    AssetCheckResult,
    AssetMaterialization,
    AssetObservation,
    MaterializeResult,
)
from opgraph.assets.specs import AssetCheckSeverity
from opgraph.definitions.io import Output
from opgraph.errors import DefinitionError, Failure


def check_output(assets_def: AssetsDefinition, result: AssetCheckResult) -> str:
    """The output a check result belongs to (by key and name, or the only check)."""
    specs = assets_def.check_specs_by_output_name
    matches = [
        name
        for name, spec in specs.items()
        if (result.check_name in (None, spec.name)) and (result.asset_key in (None, spec.asset_key))
    ]
    if len(matches) != 1:
        raise DefinitionError(
            f"AssetCheckResult(check_name={result.check_name!r}, asset_key={result.asset_key}) "
            f"matches {len(matches)} of the declared checks "
            f"{sorted(s.key.to_user_string() for s in specs.values())}; name the check"
        )
    return matches[0]


def _check_result_output(assets_def: AssetsDefinition, result: AssetCheckResult) -> Output:
    name = check_output(assets_def, result)
    output = Output(None, name, dict(result.metadata))
    output.check_result = result  # type: ignore[attr-defined]
    return output


def _materialize_output(assets_def: AssetsDefinition, result: MaterializeResult) -> Output:
    key: AssetKey = result.asset_key or assets_def.key
    name = assets_def.output_names_by_key.get(key)
    if name is None or key not in assets_def.keys:
        raise DefinitionError(
            f"MaterializeResult for {key.to_user_string()}, which this step does not "
            f"materialize (it materializes {sorted(k.to_user_string() for k in assets_def.keys)})"
        )
    output = Output(result.value, name, dict(result.metadata), data_version=result.data_version)
    # Without a value, the function stored the data itself: no IO manager call.
    output.skip_io_manager = result.value is None  # type: ignore[attr-defined]
    return output


def translate(assets_def: AssetsDefinition, item: Any) -> Iterator[Any]:
    if isinstance(item, MaterializeResult):
        yield _materialize_output(assets_def, item)
        for check in item.check_results:
            yield _check_result_output(assets_def, check)
    elif isinstance(item, AssetCheckResult):
        yield _check_result_output(assets_def, item)
    elif isinstance(item, (Output, AssetMaterialization, AssetObservation)):
        yield item
    else:
        raise DefinitionError(
            f"asset op {assets_def.node_name!r} yielded {item!r}; expected Output, "
            "MaterializeResult, AssetCheckResult, AssetMaterialization or AssetObservation"
        )


def _returned(assets_def: AssetsDefinition, result: Any) -> Iterator[Any]:
    asset_outputs = [n for n, k in assets_def.keys_by_output_name.items() if k in assets_def.keys]
    if isinstance(result, (MaterializeResult, AssetCheckResult, Output)):
        yield from translate(assets_def, result)
    elif isinstance(result, (list, tuple)) and any(
        isinstance(r, (MaterializeResult, AssetCheckResult)) for r in result
    ):
        for item in result:
            yield from translate(assets_def, item)
    elif len(asset_outputs) == 1:
        yield Output(result, asset_outputs[0])
    elif isinstance(result, tuple) and len(result) == len(asset_outputs):
        for name, value in zip(asset_outputs, result, strict=True):
            yield value if isinstance(value, Output) else Output(value, name)
    elif result is not None or asset_outputs:
        raise DefinitionError(
            f"asset op {assets_def.node_name!r} returned {result!r}; with outputs "
            f"{asset_outputs} return a tuple in that order, or yield Output/MaterializeResult"
        )


def asset_compute_fn(user_fn: Callable[..., Any], takes_context: bool) -> Callable[..., Any]:
    """The op's compute function. The step's AssetsDefinition (a subset, in a subset job)
    hangs on its op: `context.op_def.assets_def`."""

    def compute(context: Any, **kwargs: Any) -> Iterator[Any]:
        assets_def: AssetsDefinition = context.op_def.assets_def
        args = (AssetExecutionContext(context, assets_def),) if takes_context else ()
        result = user_fn(*args, **kwargs)
        failed_blocking = []
        items = result if inspect.isgenerator(result) else _returned(assets_def, result)
        for raw in items:
            for item in translate(assets_def, raw) if inspect.isgenerator(result) else [raw]:
                check = getattr(item, "check_result", None)
                if check is not None:
                    spec = assets_def.check_specs_by_output_name[item.output_name]
                    severe = check.severity == AssetCheckSeverity.ERROR
                    if spec.blocking and not check.passed and severe:
                        failed_blocking.append(spec.key.to_user_string())
                yield item
        if failed_blocking:
            raise Failure(f"blocking asset checks failed: {', '.join(failed_blocking)}")

    compute.__name__ = getattr(user_fn, "__name__", "asset")
    # The step runner resolves the compute function's annotations for type checks on
    # every step; this wrapper's (strings under `from __future__ import annotations`)
    # name no Dagster type, and resolving them cost 0.05 ms a step.
    compute.__annotations__ = {}
    compute.user_fn = user_fn  # type: ignore[attr-defined]
    return compute
