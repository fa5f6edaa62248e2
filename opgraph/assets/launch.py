"""Launching a run that materializes some assets, through a code location (GraphQL, CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.job import ASSET_JOB_NAME, subset_job_name
from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.errors import OpgraphError, RunConfigError


def asset_location(workspace: Any, keys: Iterable[AssetKey]) -> Any:
    """The one code location that defines every key (materializable there)."""
    wanted = {k.to_user_string() for k in keys}
    names, broken = [], []
    for location in workspace.locations():
        names.append(location.name)
        try:
            nodes = location.asset_nodes()
        except Exception:  # a broken location defines nothing
            broken.append(location.name)
            continue
        here = {"/".join(n["key"]) for n in nodes if n.get("is_executable")}
        if wanted <= here:
            return location
    if not names:
        raise OpgraphError(
            f"no code location defines {sorted(wanted)}: the workspace has no code locations "
            "(give -w workspace.yaml, set OPGRAPH_WORKSPACE, or put a workspace.yaml in "
            "OPGRAPH_HOME)"
        )
    failed = f"; {sorted(broken)} did not load" if broken else ""
    raise OpgraphError(
        f"no code location defines all of {sorted(wanted)} as materializable assets "
        f"(locations: {sorted(names)}{failed})"
    )


def create_asset_run(
    instance: Any,
    location: Any,
    keys: Iterable[AssetKey],
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    job_name: str = ASSET_JOB_NAME,
    checks: Iterable[AssetCheckKey] | None = None,
    **run_fields: Any,
) -> Any:
    """Validate with the location and store a NOT_STARTED run of `job_name` cut down to
    `keys` (and to `checks`; None: the checks of those keys); submit it with
    opgraph.run_lifecycle.submit_or_fail. `run_fields` go to create_run (run_id, run_key)."""
    keys = list(keys)
    checks = None if checks is None else list(checks)
    name = subset_job_name(job_name, keys, checks)
    errors = location.validate_run_config(name, run_config)
    if errors:
        raise RunConfigError(errors)
    base = location.job(job_name)
    return instance.create_run(
        name,
        run_config=dict(run_config or {}),
        tags={
            **base.tags,
            **(tags or {}),
            "opgraph/asset_selection": ",".join(sorted(k.to_user_string() for k in keys)),
            **(
                {}
                if checks is None
                else {
                    "opgraph/asset_check_selection": ",".join(
                        sorted(c.to_user_string() for c in checks)
                    )
                }
            ),
        },
        code_pointer=location.code_pointer(name),
        location_name=location.name,
        code_version=location.status().version,
        **run_fields,
    )
