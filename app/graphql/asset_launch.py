"""launchRun with an asset selection (Dagster's `selector.assetSelection` and
`selector.assetCheckSelection`): a run of the selected job cut down to those assets and
checks. Kept apart from asset_schema, which imports the mutations module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.assets.launch import create_asset_run
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.errors import Refused

_FIELD = "executionParams.selector.assetSelection"
_CHECK_FIELD = "executionParams.selector.assetCheckSelection"


def _refuse(argument: str, message: str, given: Any, expected: str) -> Refused:
    return Refused(
        e.InvalidArgumentError(
            message=f"{argument}: {message}",
            argument=argument,
            given=str(given)[:200],
            expected=expected,
        )
    )


def _key(value: Any, argument: str) -> AssetKey:
    """`{path: [...]}` as the typed input or as plain JSON (Dagster's schema passes it
    through a generic scalar): graphene's input objects are dicts too."""
    path = value.get("path") if isinstance(value, Mapping) else None
    if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
        raise _refuse(argument, "expected {path: [String!]!}", value, '{"path": ["a", "b"]}')
    return AssetKey(list(path))


def _list(value: Any, argument: str) -> list[Any]:
    if not isinstance(value, list):
        raise _refuse(argument, "expected a list", value, "a list")
    return value


def create_selected_asset_run(
    instance: Any,
    location: Any,
    job_name: str,
    asset_selection: Any,
    asset_check_selection: Any,
    run_config: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
) -> Any:
    """The NOT_STARTED run of `job_name` materializing `asset_selection` (and running
    `asset_check_selection`, or, when that is None, the selected assets' checks).
    RunConfigError as for any launch; a key or check the job does not hold is refused
    naming it and what the job holds."""
    keys = [_key(k, _FIELD) for k in _list(asset_selection, _FIELD)]
    if not keys:
        raise _refuse(_FIELD, "expected at least one asset key", [], "one or more asset keys")
    nodes = [n for n in location.asset_nodes() if job_name in n.get("job_names", [])]
    in_job = {AssetKey(list(n["key"])) for n in nodes if n.get("is_executable")}
    outside = sorted(k.to_user_string() for k in keys if k not in in_job)
    if outside:
        raise _refuse(
            _FIELD,
            f"job {job_name!r} does not materialize {outside}",
            outside,
            f"keys of {sorted(k.to_user_string() for k in in_job)}",
        )
    checks = None
    if asset_check_selection is not None:
        checks = []
        for check in _list(asset_check_selection, _CHECK_FIELD):
            name = check.get("name") if isinstance(check, Mapping) else None
            if not isinstance(name, str):
                raise _refuse(
                    _CHECK_FIELD,
                    "expected {assetKey: {path: [...]}, name: String!}",
                    check,
                    '{"assetKey": {"path": ["a"]}, "name": "check"}',
                )
            key = check.get("asset_key", check.get("assetKey"))  # typed input / plain JSON
            checks.append(AssetCheckKey(_key(key, _CHECK_FIELD), name))
        known = {
            AssetCheckKey(AssetKey(list(n["key"])), check["name"])
            for n in nodes
            for check in n.get("checks", [])
        }
        unknown = sorted(c.to_user_string() for c in checks if c not in known)
        if unknown:
            raise _refuse(
                _CHECK_FIELD,
                f"job {job_name!r} has no asset checks {unknown}",
                unknown,
                f"checks of {sorted(c.to_user_string() for c in known)}",
            )
    return create_asset_run(instance, location, keys, run_config, tags, job_name, checks)
