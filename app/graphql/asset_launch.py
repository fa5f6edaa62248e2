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


def create_selected_asset_run(
    instance: Any,
    location: Any,
    selector: Any,
    run_config: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
) -> Any:
    """The NOT_STARTED run of `selector.jobName` materializing `selector.assetSelection`
    (and running `assetCheckSelection`, or, when that is not given, the selected assets'
    checks). RunConfigError as for any launch; a key or check the job does not hold is
    refused naming it and what the job holds."""
    job_name = selector.job_name
    keys = [AssetKey(list(k.path)) for k in selector.asset_selection]
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
    given_checks = selector.get("asset_check_selection")
    checks = None
    if given_checks is not None:
        checks = [AssetCheckKey(AssetKey(list(c.asset_key.path)), c.name) for c in given_checks]
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
