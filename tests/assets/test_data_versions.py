"""Data versions: each materialization records one (given by the function, or computed
from the code version and the input data versions), and staleness follows them as in
Dagster: re-materializing an upstream with the same code and inputs leaves its
downstream fresh; a new upstream data version makes it stale."""

from __future__ import annotations

import pytest

from opgraph import DataVersion, Definitions, Output, asset, materialize
from opgraph.assets.data_versions import (
    DATA_VERSION_TAG,
    INPUT_DATA_VERSION_PREFIX,
    USER_PROVIDED_TAG,
    logical_data_version,
)
from opgraph.assets.snapshot import asset_node_snapshots
from opgraph.assets.staleness import staleness
from opgraph.errors import DefinitionError
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import InstanceConfig

GIVEN: list[str | None] = [None]


@asset(code_version="1")
def source() -> Output:
    given = GIVEN[0]
    return Output(5, data_version=DataVersion(given) if given else None)


@asset(code_version="1")
def derived(source: int) -> int:
    return source * 2


@asset
def unversioned(source: int) -> int:
    return source + 1


@pytest.fixture
def instance(tmp_path, sqlite_url):
    GIVEN[0] = None
    local = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield local
    local.dispose()


def _tags(instance, key: str) -> dict[str, str]:
    [record] = instance.storage.get_asset_records(asset_keys=[key])
    return record.last_materialization_data["tags"]


def _staleness(instance, key: str):
    nodes = {
        "/".join(n["key"]): n for n in asset_node_snapshots(Definitions(assets=[source, derived]))
    }
    records = {r.asset_key: r for r in instance.storage.get_asset_records()}
    return staleness(nodes[key], records, nodes)


def test_versions_are_computed_from_code_and_inputs(instance) -> None:
    assert materialize([source, derived], instance=instance).success
    first = _tags(instance, "source")[DATA_VERSION_TAG]
    assert first == logical_data_version("1", {}).value
    derived_tags = _tags(instance, "derived")
    assert derived_tags[INPUT_DATA_VERSION_PREFIX + "source"] == first
    assert USER_PROVIDED_TAG not in derived_tags
    assert _staleness(instance, "derived").status == "FRESH"

    # The same code on the same inputs: the same version, so derived stays fresh.
    assert materialize([source, derived], instance=instance, selection=["source"]).success
    assert _tags(instance, "source")[DATA_VERSION_TAG] == first
    assert _staleness(instance, "derived").status == "FRESH"


def test_a_new_upstream_version_makes_the_downstream_stale(instance) -> None:
    assert materialize([source, derived], instance=instance).success
    GIVEN[0] = "v2"
    assert materialize([source, derived], instance=instance, selection=["source"]).success
    tags = _tags(instance, "source")
    assert tags[DATA_VERSION_TAG] == "v2" and tags[USER_PROVIDED_TAG] == "true"
    assert _staleness(instance, "derived").causes == ["upstream source has a new data version"]

    assert materialize([source, derived], instance=instance, selection=["derived"]).success
    assert _tags(instance, "derived")[INPUT_DATA_VERSION_PREFIX + "source"] == "v2"
    assert _staleness(instance, "derived").status == "FRESH"


def test_without_a_code_version_each_run_is_a_new_version(instance) -> None:
    first = materialize([source, unversioned], instance=instance)
    second = materialize([source, unversioned], instance=instance, selection=["unversioned"])
    assert first.success and second.success
    tags = _tags(instance, "unversioned")
    assert tags["dagster/code_version"] == second.run_id  # Dagster's default code version
    assert tags[DATA_VERSION_TAG] != logical_data_version(first.run_id, {}).value


def test_a_data_version_must_be_a_non_empty_string() -> None:
    with pytest.raises(DefinitionError, match="non-empty string"):
        DataVersion("")


def test_an_upstream_version_this_run_materialized_is_read_once(instance) -> None:
    """A worker process that did not run the upstream step (a Celery fan-out) reads its
    version from the catalog once per run; a version another run wrote is read again."""
    from opgraph.assets.data_versions import upstream_data_versions
    from opgraph.assets.keys import AssetKey

    first = materialize([source], instance=instance)
    storage = instance.storage
    reads: list[list[str]] = []

    class Counting:
        def get_asset_records(self, asset_keys):
            reads.append(list(asset_keys))
            return storage.get_asset_records(asset_keys=asset_keys)

    key = AssetKey("source")
    [record] = storage.get_asset_records(asset_keys=["source"])
    stored = record.last_materialization_data["tags"][DATA_VERSION_TAG]
    for run_id in ("another run", "another run", first.run_id, first.run_id):
        versions = upstream_data_versions([key], run_id, Counting())
        assert versions[key].value == stored
    assert reads == [["source"], ["source"], ["source"]]


def test_a_run_worker_hands_each_step_its_upstream_versions() -> None:
    """What the Celery executor sends with a step: the versions of the step's upstream
    assets it saw materialized in the run's events (a later event of a key wins), none of
    another step's upstreams, and nothing for a job without assets."""
    from opgraph.assets.data_versions import DispatchedVersions

    job = Definitions(assets=[source, derived, unversioned]).resolve_job_def("__ASSET_JOB")
    seen = DispatchedVersions(job)
    assert seen.wanted
    assert seen.for_step("derived") == {}
    for version in ("v1", "v2"):
        seen.observe({"asset_key": ["source"], "tags": {DATA_VERSION_TAG: version}})
    seen.observe({"asset_key": ["derived"], "tags": {DATA_VERSION_TAG: "d1"}})
    seen.observe({"asset_key": ["unversioned"], "tags": {}})  # no version: nothing to send
    assert seen.for_step("derived") == {"source": "v2"}
    assert seen.for_step("unversioned") == {"source": "v2"}
    assert seen.for_step("source") == {}
    assert not DispatchedVersions(object()).wanted  # an op job


def test_versions_sent_with_a_step_are_not_read_from_the_catalog() -> None:
    """A step that arrives with its upstream's version (a Celery chain's next step, in
    another pool process) records it as its input version without a catalog read."""
    from opgraph.assets.data_versions import remember_run_versions, version_tags
    from opgraph.assets.keys import AssetKey

    class NoReads:
        def get_asset_records(self, asset_keys):
            raise AssertionError(f"read {asset_keys} from the catalog")

    remember_run_versions("run-sent", {"source": "v-sent"})
    tags = version_tags(AssetKey("derived"), None, "1", "run-sent", [AssetKey("source")], NoReads())
    assert tags[INPUT_DATA_VERSION_PREFIX + "source"] == "v-sent"
    assert (
        tags[DATA_VERSION_TAG]
        == logical_data_version("1", {AssetKey("source"): DataVersion("v-sent")}).value
    )
