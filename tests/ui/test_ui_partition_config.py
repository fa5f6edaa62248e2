"""The launchpad's partition picker for a partitioned op job with a PartitionedConfig:
picking a partition fills the run config editor with that partition's config (asked of
the server: PartitionSet.partitionRun) and sets its tags; the launched run has both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, running_ui, shoot

DATED_FILE = Path(__file__).resolve().parent / "ui_partitioned_config.py"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    with running_ui(tmp_path_factory, redis_url, {"dated": DATED_FILE}) as instance:
        yield instance


def test_picking_a_partition_fills_its_config_and_tags(ui: UiInstance, page: Any):
    from tests.ui.test_ui_actions import run_id_of
    from tests.ui.test_ui_pages import wait_finished

    open_page(page, ui.url + "/jobs/dated/daily_report")
    page.wait_for_selector("#partition-picker:not([hidden])")
    page.select_option("#launch-partition", "2024-01-02")
    page.wait_for_selector("#launch-partition[data-filled='2024-01-02']")
    text = page.input_value("#run-config-editor")
    assert "date: '2024-01-02'" in text and "until: '2024-01-03'" in text, text
    tags = page.locator("#tag-rows .row").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.tag-key').value, r.querySelector('.tag-value').value])"
    )
    assert ["weekday", "Tuesday"] in tags and ["dagster/partition", "2024-01-02"] in tags
    # Another day replaces the first one's config and tags.
    page.select_option("#launch-partition", "2024-01-06")
    page.wait_for_selector("#launch-partition[data-filled='2024-01-06']")
    assert "date: '2024-01-06'" in page.input_value("#run-config-editor")
    tags = page.locator("#tag-rows .row").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.tag-key').value, r.querySelector('.tag-value').value])"
    )
    assert ["weekday", "Saturday"] in tags and ["weekday", "Tuesday"] not in tags
    page.wait_for_selector("#validation[data-state=valid]")
    shoot(page, "launchpad-partition-config")
    page.click("#launch-run")
    run_id = run_id_of(page)
    assert wait_finished(ui, run_id) == "SUCCESS"
    run = ui.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { runConfigYaml tags { key value } } } }",
        {"id": run_id},
    )["runOrError"]
    assert {"key": "dagster/partition", "value": "2024-01-06"} in run["tags"]
    assert {"key": "weekday", "value": "Saturday"} in run["tags"]
    assert "date: '2024-01-06'" in run["runConfigYaml"]


def test_partition_run_names_a_bad_partition(ui: UiInstance):
    query = """query { partitionSetsOrError(pipelineName: "daily_report") {
      ... on PartitionSets { results { partitionRun(partitionName: "1999-01-01") { runConfigYaml } } } } }"""
    with pytest.raises(AssertionError, match="partitionName: '1999-01-01' is not a partition"):
        ui.gql(query)
