"""Data versions, as Dagster defines them: each materialization records a data version,
given by the asset's function (`Output(data_version=...)`, `MaterializeResult(...)`) or
computed from its code version and the data versions of its inputs. They live in the
ASSET_MATERIALIZATION event's tags (Dagster's tag names), so the catalog row of a key
(its latest event's data) holds its current data version with no column of its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opgraph.assets.keys import AssetKey
from opgraph.errors import DefinitionError

DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"
INPUT_DATA_VERSION_PREFIX = "dagster/input_data_version/"


@dataclass(frozen=True)
class DataVersion:
    """The version of an asset's data: equal versions mean equal data."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value:
            raise DefinitionError(f"DataVersion: expected a non-empty string, got {self.value!r}")


# An input that was never materialized, and one materialized without a data version.
NULL_DATA_VERSION = DataVersion("NULL")
DEFAULT_DATA_VERSION = DataVersion("INITIAL")


def to_data_version(value: Any, where: str) -> DataVersion | None:
    if value is None or isinstance(value, DataVersion):
        return value
    raise DefinitionError(f"{where}: data_version must be a DataVersion, got {value!r}")


def logical_data_version(code_version: str, inputs: Mapping[AssetKey, DataVersion]) -> DataVersion:
    """The same code run on the same input versions gives the same version."""
    digest = hashlib.sha256(code_version.encode())
    for key in sorted(inputs):
        digest.update(f"\n{key.to_user_string()}={inputs[key].value}".encode())
    return DataVersion(digest.hexdigest())


def data_version_of(event_data: Mapping[str, Any] | None) -> DataVersion | None:
    """The data version a stored materialization recorded (None: none or no event)."""
    if not event_data:
        return None
    value = (event_data.get("tags") or {}).get(DATA_VERSION_TAG)
    return DataVersion(value) if value else None


def input_data_versions_of(event_data: Mapping[str, Any]) -> dict[str, str]:
    """Upstream key text -> the data version it had when this materialization ran."""
    tags = event_data.get("tags") or {}
    n = len(INPUT_DATA_VERSION_PREFIX)
    return {k[n:]: v for k, v in tags.items() if k.startswith(INPUT_DATA_VERSION_PREFIX)}


class _RunVersions:
    """Data versions of assets materialized by this process's current run, recorded here
    or read once from the catalog: a step whose upstream this run materialized (the
    in-process executor; a fan-out whose steps are spread over Celery workers) reads its
    version from memory instead of the catalog (one query a step less). Only the run's
    own materializations are kept: within the run they do not change (a downstream step
    starts after its upstream's succeeded), while another run may move a key the run does
    not materialize at any time, so those are read each time."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.versions: dict[AssetKey, DataVersion] = {}

    def for_run(self, run_id: str) -> dict[AssetKey, DataVersion]:
        if run_id != self.run_id:
            self.run_id, self.versions = run_id, {}
        return self.versions


_recorded = _RunVersions()


def remember_run_versions(run_id: str, versions: Mapping[str, str]) -> None:
    """Versions of assets the run materialized, as its run worker saw them in the event
    log and sent with a step: the step then reads none of them from the catalog."""
    if versions:
        known = _recorded.for_run(run_id)
        for key_text, value in versions.items():
            known.setdefault(AssetKey.from_user_string(key_text), DataVersion(value))


class DispatchedVersions:
    """A run worker's view of the data versions its run has materialized, read from the
    ASSET_MATERIALIZATION events it follows, to send with each step it dispatches to
    another process. On Celery a chain's next step runs in another pool process, which
    would otherwise read its upstream's version from the catalog: one round trip on the
    chain's critical path per step."""

    def __init__(self, job: Any) -> None:
        from opgraph.assets.layer import asset_layer_of

        self.versions: dict[str, str] = {}
        self._upstream: dict[str, set[str]] = {}
        layer = asset_layer_of(job)
        if layer is None:
            return
        for (handle, _), key in layer.output_keys.items():
            upstream = layer.upstream_keys.get(key, ())
            self._upstream.setdefault(handle, set()).update(k.to_user_string() for k in upstream)

    @property
    def wanted(self) -> bool:
        """Whether any step has an upstream asset (else there is nothing to follow)."""
        return any(self._upstream.values())

    def observe(self, event_data: Mapping[str, Any]) -> None:
        """Record one materialization event's version; a later event of a key wins, as
        in the catalog."""
        version = data_version_of(event_data)
        path = event_data.get("asset_key")
        if version is not None and path:
            self.versions[AssetKey(tuple(path)).to_user_string()] = version.value

    def for_step(self, handle: str) -> dict[str, str]:
        upstream = self._upstream.get(handle, ())
        return {key: self.versions[key] for key in upstream if key in self.versions}


def upstream_data_versions(
    upstream: Iterable[AssetKey], run_id: str, storage: Any
) -> dict[AssetKey, DataVersion]:
    known = _recorded.for_run(run_id)
    versions = {key: known[key] for key in upstream if key in known}
    missing = [key for key in upstream if key not in versions]
    if missing and storage is not None:
        records = storage.get_asset_records(asset_keys=[k.to_user_string() for k in missing])
        by_key = {r.asset_key: r for r in records}
        for key in missing:
            record = by_key.get(key.to_user_string())
            if record is None or record.last_materialization_id is None:
                versions[key] = NULL_DATA_VERSION
            else:
                found = data_version_of(record.last_materialization_data)
                versions[key] = found or DEFAULT_DATA_VERSION
                if record.last_materialization_run_id == run_id:
                    known[key] = versions[key]
    for key in missing:
        versions.setdefault(key, NULL_DATA_VERSION)
    return versions


def version_tags(
    key: AssetKey,
    given: DataVersion | None,
    code_version: str | None,
    run_id: str,
    upstream: Iterable[AssetKey],
    storage: Any,
) -> dict[str, str]:
    """The tags of one materialization: its data version, code version (the run id when
    the asset has none, as in Dagster) and the versions of its inputs."""
    code = code_version if code_version is not None else run_id
    inputs = upstream_data_versions(upstream, run_id, storage)
    version = given or logical_data_version(code, inputs)
    _recorded.for_run(run_id)[key] = version
    tags = {DATA_VERSION_TAG: version.value, CODE_VERSION_TAG: code}
    if given is not None:
        tags[USER_PROVIDED_TAG] = "true"
    for upstream_key, upstream_version in inputs.items():
        tags[INPUT_DATA_VERSION_PREFIX + upstream_key.to_user_string()] = upstream_version.value
    return tags
