"""The assets part of a Definitions: the asset graph, asset jobs, and subset jobs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.checks import AssetChecksDefinition
from opgraph.assets.definition import AssetsDefinition, to_assets_definitions
from opgraph.assets.job import (
    ASSET_JOB_NAME,
    AssetJobDefinition,
    UnresolvedAssetJobDefinition,
    build_asset_job,
    parse_subset_job_name,
)
from opgraph.assets.keys import to_asset_key
from opgraph.errors import DefinitionError


class AssetsOfDefinitions:
    implicit_job_name = ASSET_JOB_NAME

    def __init__(
        self,
        assets: Iterable[Any] | None,
        asset_checks: Iterable[Any] | None,
        resources: Mapping[str, Any],
    ):
        self.given_assets = list(assets or [])
        self.given_checks = list(asset_checks or [])
        self.resources = resources
        defs = to_assets_definitions(self.given_assets, "Definitions(assets=...)")
        for value in self.given_checks:
            if not isinstance(value, AssetChecksDefinition):
                raise DefinitionError(
                    f"Definitions(asset_checks=...): expected @asset_check definitions, "
                    f"got {value!r}"
                )
            defs.append(value)
        self.graph = AssetGraph(defs)
        self._resolved: dict[int, AssetJobDefinition] = {}
        self._subsets: dict[str, AssetJobDefinition] = {}

    @property
    def has_assets(self) -> bool:
        return bool(self.graph.materializable_keys)

    def resolve_jobs(self, jobs: Iterable[Any]) -> list[Any]:
        """Jobs as given, with each define_asset_job compiled (once, however often named)."""
        out = []
        for job in jobs:
            if isinstance(job, UnresolvedAssetJobDefinition):
                if id(job) not in self._resolved:
                    self._resolved[id(job)] = job.resolve(self.graph, self.resources)
                out.append(self._resolved[id(job)])
            else:
                out.append(job)
        return out

    def implicit_jobs(self) -> list[AssetJobDefinition]:
        if not self.has_assets:
            return []
        if ASSET_JOB_NAME not in self._subsets:
            self._subsets[ASSET_JOB_NAME] = build_asset_job(
                ASSET_JOB_NAME,
                self.graph,
                set(self.graph.materializable_keys),
                resources=self.resources,
            )
        return [self._subsets[ASSET_JOB_NAME]]

    @staticmethod
    def is_subset_name(name: str) -> bool:
        return parse_subset_job_name(name) is not None

    def subset_job(self, name: str, jobs: Mapping[str, Any]) -> AssetJobDefinition:
        """The job `base[a/b,c]`: asset job `base` cut down to those keys."""
        parsed = parse_subset_job_name(name)
        assert parsed is not None
        base_name, keys, checks = parsed
        base = jobs.get(base_name)
        if not isinstance(base, AssetJobDefinition):
            raise DefinitionError(
                f"no asset job named {base_name!r} to select assets from; asset jobs are "
                f"{sorted(n for n, j in jobs.items() if isinstance(j, AssetJobDefinition))}"
            )
        if name not in self._subsets:
            wanted = set(keys)
            outside = wanted - base.asset_layer.selected_keys
            if outside:
                raise DefinitionError(
                    f"job {base_name!r} does not materialize "
                    f"{sorted(k.to_user_string() for k in outside)}"
                )
            check_keys = None if checks is None else set(checks)
            if check_keys is not None:
                unknown = check_keys - base.asset_layer.selected_checks
                if unknown:
                    raise DefinitionError(
                        f"job {base_name!r} has no asset checks "
                        f"{sorted(c.to_user_string() for c in unknown)}; its checks are "
                        f"{sorted(c.to_user_string() for c in base.asset_layer.selected_checks)}"
                    )
            self._subsets[name] = build_asset_job(
                name,
                self.graph,
                wanted,
                check_keys=check_keys,
                resources=base.resource_defs,
                config=base.default_run_config,
                tags=base.tags,
                description=base.description,
                executor_def=base.executor_def,
            )
        return self._subsets[name]

    def get_assets_def(self, key: Any) -> AssetsDefinition:
        asset_key = to_asset_key(key)
        found = self.graph.assets_def_by_key.get(asset_key)
        if found is None:
            raise DefinitionError(
                f"no asset {asset_key.to_user_string()}; assets are "
                f"{sorted(k.to_user_string() for k in self.graph.assets_def_by_key)}"
            )
        return found
