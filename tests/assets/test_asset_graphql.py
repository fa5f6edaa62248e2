"""The asset GraphQL over a real webserver (gunicorn), PostgreSQL, and a run launched by
`launchAssetRun` in a run worker process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.web_server import Webserver, make_home

PROJECT = Path(__file__).with_name("asset_project.py")

NODES = """{ assetNodes { assetKey { path } groupName isExecutable codeVersion jobNames
  dependencyKeys { path } dependedByKeys { path } assetChecks { name blocking } } }"""
ASSET = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  __typename
  ... on Asset { key { path } latestMaterialization { runId stepKey metadata codeVersion }
    assetMaterializations(limit: 5) { runId eventId stepKey }
    definition { groupName staleness { status causes }
      assetChecks { name latestExecution { passed status severity } } } }
  ... on AssetNotFoundError { message } } }"""
LAUNCH = """mutation($keys: [AssetKeyInput!]!) { launchAssetRun(assetKeys: $keys) {
  __typename ... on LaunchRunSuccess { run { runId jobName } }
  ... on Error { message } } }"""


@pytest.fixture
def webserver(tmp_path: Path, pg_storage_url: str) -> Iterator[Webserver]:
    home = make_home(tmp_path, pg_storage_url)
    workspace = {
        "load_from": [{"python_file": {"relative_path": str(PROJECT), "location_name": "assets"}}]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    server = Webserver(home)
    yield server
    server.stop()


def _wait_for_run(server: Webserver, run_id: str) -> str:
    query = "query($id: String!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = server.gql(query, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.2)  # polling the run's status, not waiting for time to pass
    raise AssertionError(f"run {run_id} did not finish")


def test_catalog_and_materialize_over_http(webserver: Webserver) -> None:
    nodes = webserver.gql(NODES)["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert set(by_key) == {
        "customers",
        "doubled_revenue",
        "external_feed",
        "raw/orders",
        "regions",
        "report",
        "revenue",
    }
    orders = by_key["raw/orders"]
    assert orders["groupName"] == "raw" and orders["codeVersion"] == "1"
    assert orders["dependencyKeys"] == [{"path": ["external_feed"]}]
    assert {"path": ["revenue"]} in orders["dependedByKeys"]
    assert orders["assetChecks"] == [{"name": "orders_not_empty", "blocking": True}]
    assert not by_key["external_feed"]["isExecutable"]
    assert "marts_job" in by_key["revenue"]["jobNames"]

    # The implicit asset job is not in the location's job list, and is found by name.
    [entry] = webserver.gql(
        "{ workspaceOrError { ... on Workspace { locationEntries { jobs { name } "
        'job(name: "__ASSET_JOB") { name } } } } }'
    )["workspaceOrError"]["locationEntries"]
    listed = {job["name"] for job in entry["jobs"]}
    assert "marts_job" in listed and not any(n.startswith("__ASSET_JOB") for n in listed)
    assert entry["job"] == {"name": "__ASSET_JOB"}

    missing = webserver.gql(ASSET, {"key": {"path": ["raw", "orders"]}})["assetOrError"]
    assert missing["latestMaterialization"] is None
    assert missing["definition"]["staleness"] == {
        "status": "MISSING",
        "causes": ["never materialized"],
    }

    launched = webserver.gql(LAUNCH, {"keys": [{"path": ["raw", "orders"]}, {"path": ["revenue"]}]})
    result = launched["launchAssetRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    assert result["run"]["jobName"] == "__ASSET_JOB[raw~orders,revenue]"
    assert _wait_for_run(webserver, run_id) == "SUCCESS"

    asset = webserver.gql(ASSET, {"key": {"path": ["raw", "orders"]}})["assetOrError"]
    assert asset["latestMaterialization"]["runId"] == run_id
    assert asset["latestMaterialization"]["codeVersion"] == "1"
    assert asset["definition"]["staleness"]["status"] == "FRESH"
    [check] = asset["definition"]["assetChecks"]
    assert check["latestExecution"] == {"passed": True, "status": "SUCCEEDED", "severity": "ERROR"}
    revenue = webserver.gql(ASSET, {"key": {"path": ["revenue"]}})["assetOrError"]
    assert revenue["latestMaterialization"]["metadata"]["total"] == 100
    # The catalog row's step key is the event's (the row keeps only the event's data).
    assert revenue["latestMaterialization"]["stepKey"] == "revenue"
    assert revenue["assetMaterializations"][0]["stepKey"] == "revenue"

    # raw/orders again: the same code version on the same inputs gives the same data
    # version, so revenue (which read that version) stays fresh, as in Dagster.
    again = webserver.gql(LAUNCH, {"keys": [{"path": ["raw", "orders"]}]})["launchAssetRun"]
    assert _wait_for_run(webserver, again["run"]["runId"]) == "SUCCESS"
    revenue = webserver.gql(ASSET, {"key": {"path": ["revenue"]}})["assetOrError"]
    assert revenue["definition"]["staleness"] == {"status": "FRESH", "causes": []}
    history = webserver.gql(ASSET, {"key": {"path": ["raw", "orders"]}})["assetOrError"]
    assert [m["runId"] for m in history["assetMaterializations"]] == [
        again["run"]["runId"],
        run_id,
    ]

    page = webserver.gql(
        "{ assetsOrError(limit: 3) { ... on AssetConnection { nodes { key { path } } cursor } } }"
    )
    first = page["assetsOrError"]
    assert [n["key"]["path"] for n in first["nodes"]] == [
        ["customers"],
        ["doubled_revenue"],
        ["external_feed"],
    ]
    assert first["cursor"] == "external_feed"
    rest = webserver.gql(
        'query($c: String) { assetsOrError(cursor: $c, group: "marts") { ... on AssetConnection { nodes { key { path } } } } }',
        {"c": "external_feed"},
    )["assetsOrError"]["nodes"]
    assert [n["key"]["path"] for n in rest] == [["regions"], ["revenue"]]

    wiped = webserver.gql(
        'mutation { wipeAssets(assetKeys: [{path: ["raw", "orders"]}]) { ... on AssetWipeSuccess { wiped } } }'
    )
    assert wiped["wipeAssets"]["wiped"] == 1
    after = webserver.gql(ASSET, {"key": {"path": ["raw", "orders"]}})["assetOrError"]
    assert after["latestMaterialization"] is None and after["assetMaterializations"] == []

    unknown = webserver.gql(ASSET, {"key": {"path": ["nope"]}})["assetOrError"]
    assert unknown["__typename"] == "AssetNotFoundError"


def test_asset_mutations_follow_the_mutation_rules(tmp_path: Path) -> None:
    from opgraph import OpgraphInstance
    from opgraph_app.graphql.context import GraphQLContext
    from opgraph_app.graphql.schema import schema

    instance = OpgraphInstance.ephemeral(tmp_path)
    mutation = 'mutation { wipeAssets(assetKeys: [{path: ["a"]}]) { __typename ... on Error { message } } }'
    launch = 'mutation { launchAssetRun(assetKeys: [{path: ["a"]}]) { __typename } }'
    for context, expected in (
        (
            GraphQLContext(instance=instance, load_workspace=lambda: None, read_only=True),
            "ReadOnlyError",
        ),
        (
            GraphQLContext(instance=instance, load_workspace=lambda: None, auth_token="s3cret"),
            "UnauthorizedError",
        ),
    ):
        for query, field in ((mutation, "wipeAssets"), (launch, "launchAssetRun")):
            result = schema.execute(query, context_value=context)
            assert not result.errors, result.errors
            assert result.data[field]["__typename"] == expected
    bad = schema.execute(
        'mutation { launchAssetRun(assetKeys: [{path: ["bad key"]}]) { __typename ... on InvalidArgumentError { argument } } }',
        context_value=GraphQLContext(instance=instance, load_workspace=lambda: None),
    )
    assert bad.data["launchAssetRun"] == {
        "__typename": "InvalidArgumentError",
        "argument": "assetKey",
    }
    instance.dispose()


LAUNCH_RUN = """mutation($selector: JobSelector!) {
  launchRun(executionParams: {selector: $selector}) {
    __typename ... on LaunchRunSuccess { run { runId jobName } }
    ... on InvalidArgumentError { message argument } } }"""
CHECKS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  definition { assetChecks { name latestExecution { passed } } } } } }"""


def test_launch_run_with_an_asset_selection(webserver: Webserver) -> None:
    orders = {"path": ["raw", "orders"]}
    selector = {"locationName": "assets", "jobName": "__ASSET_JOB", "assetSelection": [orders]}
    # No check selected: raw/orders is materialized and its check does not run.
    launched = webserver.gql(LAUNCH_RUN, {"selector": {**selector, "assetCheckSelection": []}})
    result = launched["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    assert result["run"]["jobName"] == "__ASSET_JOB[raw~orders;]"
    assert _wait_for_run(webserver, result["run"]["runId"]) == "SUCCESS"
    asset = webserver.gql(ASSET, {"key": orders})["assetOrError"]
    assert asset["latestMaterialization"]["runId"] == result["run"]["runId"]
    checks = webserver.gql(CHECKS, {"key": orders})["assetOrError"]["definition"]
    assert checks["assetChecks"] == [{"name": "orders_not_empty", "latestExecution": None}]

    # Without assetCheckSelection the selected assets' checks run, as in Dagster.
    launched = webserver.gql(LAUNCH_RUN, {"selector": selector})["launchRun"]
    assert launched["run"]["jobName"] == "__ASSET_JOB[raw~orders]"
    assert _wait_for_run(webserver, launched["run"]["runId"]) == "SUCCESS"
    checks = webserver.gql(CHECKS, {"key": orders})["assetOrError"]["definition"]
    assert checks["assetChecks"][0]["latestExecution"] == {"passed": True}

    outside = {"locationName": "assets", "jobName": "marts_job", "assetSelection": [orders]}
    refused = webserver.gql(LAUNCH_RUN, {"selector": outside})["launchRun"]
    assert refused["__typename"] == "InvalidArgumentError"
    assert refused["argument"] == "executionParams.selector.assetSelection"
    assert "job 'marts_job' does not materialize ['raw/orders']" in refused["message"]
    bad_check = {**selector, "assetCheckSelection": [{"assetKey": orders, "name": "nope"}]}
    refused = webserver.gql(LAUNCH_RUN, {"selector": bad_check})["launchRun"]
    assert refused["argument"] == "executionParams.selector.assetCheckSelection"
    assert "raw/orders:nope" in refused["message"]


DAGSTER_LAUNCH = """mutation GraphQLClientSubmitRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message } ... on InvalidStepError { invalidStepKey } } }"""


def test_dagster_schema_launch_run_with_an_asset_selection(webserver: Webserver) -> None:
    """Dagster's `launchRun(executionParams: {selector: {assetSelection}})`, as its clients
    send it (the operation name routes it to the Dagster-shaped schema)."""
    orders = {"path": ["raw", "orders"]}
    selector = {
        "repositoryLocationName": "assets",
        "repositoryName": "__repository__",
        "jobName": "__ASSET_JOB",
        "assetSelection": [orders],
        "assetCheckSelection": [],
    }
    launched = webserver.gql(DAGSTER_LAUNCH, {"executionParams": {"selector": selector}})
    result = launched["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    assert _wait_for_run(webserver, run_id) == "SUCCESS"
    runs = webserver.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { jobName } } }", {"id": run_id}
    )
    assert runs["runOrError"]["jobName"] == "__ASSET_JOB[raw~orders;]"
    asset = webserver.gql(ASSET, {"key": orders})["assetOrError"]
    assert asset["latestMaterialization"]["runId"] == run_id

    malformed = {**selector, "assetSelection": [{"path": "raw/orders"}]}
    refused = webserver.gql(DAGSTER_LAUNCH, {"executionParams": {"selector": malformed}})
    assert refused["launchRun"]["__typename"] == "PythonError"
    assert "assetSelection: expected {path: [String!]!}" in refused["launchRun"]["message"]
    both = {**selector, "solidSelection": ["orders"]}
    refused = webserver.gql(DAGSTER_LAUNCH, {"executionParams": {"selector": both}})
    assert refused["launchRun"]["__typename"] == "InvalidStepError"


CATALOG_PAGE = """query($search: String, $group: String, $kind: String, $offset: Int, $limit: Int) {
  assetCatalogOrError(search: $search, group: $group, kind: $kind, offset: $offset, limit: $limit) {
    __typename
    ... on AssetCatalogPage { total assetCount offset kinds
      groups { name assetCount upstreamGroups }
      nodes { assetKey { path } groupName latestMaterialization { runId } staleness { status } } }
    ... on InvalidArgumentError { argument given expected message } } }"""


def _catalog_page(server: Webserver, **variables: object) -> dict:
    return server.gql(CATALOG_PAGE, variables)["assetCatalogOrError"]  # type: ignore[no-any-return]


def test_asset_catalog_pages_filters_and_groups(webserver: Webserver) -> None:
    keys: list[str] = []
    for offset in (0, 3, 6):
        page = _catalog_page(webserver, offset=offset, limit=3)
        assert page["__typename"] == "AssetCatalogPage", page
        assert (page["total"], page["assetCount"], page["offset"]) == (7, 7, offset)
        keys += ["/".join(n["assetKey"]["path"]) for n in page["nodes"]]
    # Every asset once over the pages, none repeated, the last page holding the rest.
    assert sorted(keys) == sorted(
        [
            "customers",
            "doubled_revenue",
            "external_feed",
            "raw/orders",
            "regions",
            "report",
            "revenue",
        ]
    )
    whole = _catalog_page(webserver)
    groups = {g["name"]: (g["assetCount"], g["upstreamGroups"]) for g in whole["groups"]}
    assert groups == {"marts": (4, ["raw"]), "raw": (2, []), "reports": (1, ["marts"])}
    assert "python" in whole["kinds"]

    searched = _catalog_page(webserver, search="  ORD ")
    assert [n["assetKey"]["path"] for n in searched["nodes"]] == [["raw", "orders"]]
    assert searched["total"] == 1 and searched["assetCount"] == 7
    assert searched["nodes"][0]["staleness"]["status"] == "MISSING"
    marts = _catalog_page(webserver, group="marts")
    assert marts["total"] == 4 and {n["groupName"] for n in marts["nodes"]} == {"marts"}
    # A filter only narrows the page: the groups still summarize the whole catalog.
    assert len(marts["groups"]) == 3
    python = _catalog_page(webserver, kind="python")
    assert ["raw", "orders"] in [n["assetKey"]["path"] for n in python["nodes"]]
    assert _catalog_page(webserver, offset=7)["nodes"] == []

    for variables, argument, expected in (
        ({"offset": -1}, "offset", "0 or more"),
        ({"limit": 0}, "limit", "1 to 500"),
        ({"limit": 501}, "limit", "1 to 500"),
    ):
        refused = _catalog_page(webserver, **variables)
        assert refused["__typename"] == "InvalidArgumentError", refused
        assert (refused["argument"], refused["expected"]) == (argument, expected)
        assert str(next(iter(variables.values()))) == refused["given"]
