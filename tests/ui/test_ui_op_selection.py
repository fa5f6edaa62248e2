"""The launchpad's op selection in Chromium: a typed query highlights its ops on the graph
and is validated with the config (a clause naming no op is a problem and Launch stays
off), ops picked on the graph join the selection, the launched run runs those ops only
and carries the selection tag, and "Open in launchpad" from that run brings it back."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_actions import run_id_of
from tests.ui.test_ui_pages import wait_finished

JOB_URL = "/jobs/ui/numbers"  # emit -> double -> flaky -> report


def picked(page: Any) -> list[str]:
    return sorted(
        page.locator("#job-graph .graph-node.picked").evaluate_all(
            "els => els.map(e => e.dataset.node)"
        )
    )


def test_launch_a_subset_typed_or_picked_on_the_graph(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    page.wait_for_selector("#validation[data-state=valid]")
    assert page.inner_text("#op-selection-count") == "every op runs"

    page.fill("#op-selection", "nosuch")
    page.wait_for_selector("#validation[data-state=invalid]")
    assert "matches no op" in page.inner_text("#config-errors")
    assert page.is_disabled("#launch-run")
    assert picked(page) == []

    page.fill("#op-selection", "*double")
    page.wait_for_selector("#validation[data-state=valid]")
    assert picked(page) == ["double", "emit"]
    assert page.inner_text("#op-selection-count") == "2 of 4 ops run"

    page.fill("#op-selection", "")
    page.check("#pick-ops")
    page.click("#job-graph .graph-node[data-node=emit]")
    page.click("#job-graph .graph-node[data-node=report]")
    page.click("#job-graph .graph-node[data-node=double]")
    page.click("#job-graph .graph-node[data-node=report]")  # a second click takes it out
    assert page.input_value("#op-selection") == "emit, double"
    assert picked(page) == ["double", "emit"]
    page.wait_for_selector("#validation[data-state=valid]")
    shoot(page, "launchpad-op-selection")

    page.click("#launch-run")
    run_id = run_id_of(page)
    assert wait_finished(ui, run_id) == "SUCCESS"
    answer = ui.gql(
        """query($id: String!) { runOrError(runId: $id) { ... on Run {
          tags { key value } stepStats { stepKey status } } } }""",
        {"id": run_id},
    )["runOrError"]
    tags = {t["key"]: t["value"] for t in answer["tags"]}
    assert tags["opgraph/op_selection"] == "emit,double"
    assert sorted(s["stepKey"] for s in answer["stepStats"]) == ["double", "emit"]

    open_page(page, f"{ui.url}{JOB_URL}?from_run={run_id}")
    page.wait_for_selector("#validation[data-state=valid]")
    assert page.input_value("#op-selection") == "emit,double"
    assert picked(page) == ["double", "emit"]


LAUNCH = """mutation($selector: JobSelector!) { launchRun(executionParams: {selector: $selector}) {
  __typename ... on Error { message } ... on RunConfigValidationInvalid { errors { path message } } } }"""


def test_op_selection_refusals(ui: UiInstance):
    beside_assets = {
        "locationName": "assets",
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": ["orders"]}],
        "opSelection": ["orders"],
    }
    answer = ui.gql(LAUNCH, {"selector": beside_assets})["launchRun"]
    assert answer["__typename"] == "InvalidArgumentError", answer
    assert "assetSelection" in answer["message"]

    long_clause = {"locationName": "ui", "jobName": "numbers", "opSelection": ["x" * 300]}
    answer = ui.gql(LAUNCH, {"selector": long_clause})["launchRun"]
    assert answer["__typename"] == "InvalidArgumentError", answer

    unknown = {"locationName": "ui", "jobName": "numbers", "opSelection": ["*nosuch"]}
    answer = ui.gql(LAUNCH, {"selector": unknown})["launchRun"]
    assert answer["__typename"] == "RunConfigValidationInvalid", answer
    assert [e["path"] for e in answer["errors"]] == ["op_selection"]
