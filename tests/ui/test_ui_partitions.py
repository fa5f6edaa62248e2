"""The partition and backfill pages in Chromium, on a webserver whose workspace holds a
partitioned asset (tests/ui/ui_partitions.py): the asset's status bar and a partition's
runs, a backfill launched from the asset page (a range, one partition of it failing) and
run by the daemon's backfill part in real run workers, the backfill page following it,
the "failed" and "missing" choices, a backfill launched from the job page then canceled
and resumed, and the backfills list with its status tabs; an asset's automation
evaluations (tests/ui/ui_automation.py), evaluated by the daemon's AUTOMATION part."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill import BackfillDaemon, cancel_backfill
from tests.ui.conftest import UiInstance, open_page, running_ui, shoot

PARTS_FILE = Path(__file__).resolve().parent / "ui_partitions.py"
AUTOMATION_FILE = Path(__file__).resolve().parent / "ui_automation.py"
KEYS = [f"2024-01-0{day}" for day in range(1, 7)]


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    """The pages' usual webserver, with the locations `parts` and `auto` added."""
    extra = {"parts": PARTS_FILE, "auto": AUTOMATION_FILE}
    with running_ui(tmp_path_factory, redis_url, extra) as instance:
        yield instance


@pytest.fixture(scope="module")
def daemon(ui: UiInstance) -> Iterator[BackfillDaemon]:
    """The daemon's backfill part, ticked by the tests (runs go to real run workers)."""
    from opgraph.workspace import load_workspace

    instance = OpgraphInstance.get(ui.home)
    workspace = load_workspace(None, ui.home, in_process=True)
    yield BackfillDaemon(instance, workspace)
    workspace.close()
    instance.dispose()


def tick_until(daemon: BackfillDaemon, ui: UiInstance, backfill_id: str, status: str) -> None:
    """Tick the backfill part until the backfill has `status` (its runs take real time)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert daemon.tick(time.time()).errors == []
        record = ui.storage.get_backfill(backfill_id)
        if record.status.value == status:
            return
        time.sleep(0.2)  # polling the backfill's status, not waiting for time to pass
    raise AssertionError(f"backfill {backfill_id} still {record.status.value}")


def backfill_id_of(page: Any) -> str:
    page.wait_for_url(lambda url: "/backfills/" in url)
    page.wait_for_selector("body[data-ready]")
    return str(page.url.rsplit("/", 1)[-1])


def counts(page: Any, where: str) -> dict[str, int]:
    return {
        badge.get_attribute("data-status"): int(badge.get_attribute("data-count"))
        for badge in page.locator(f"{where} .partition-counts .badge").all()
    }


def test_backfill_a_range_from_the_asset_page(ui: UiInstance, daemon: Any, page: Any):
    open_page(page, ui.url + "/assets/daily_sales")
    page.wait_for_selector("#asset-partitions:not([hidden]) svg.partition-bar")
    assert page.get_attribute("#partition-bar svg", "data-partitions") == "6"
    assert counts(page, "#asset-partitions") == {"MISSING": 6}
    assert page.inner_text(".partition-bar-ends").split() == [KEYS[0], KEYS[-1]]

    page.click("#open-backfill")
    page.wait_for_selector("#backfill-form")
    assert page.inner_text("#backfill-target") == "asset daily_sales"  # an asset backfill
    assert page.get_attribute("#backfill-summary", "data-count") == "6"
    page.check("input[name=backfill-which][value=range]")
    page.select_option("#backfill-start", KEYS[3])
    page.select_option("#backfill-end", KEYS[4])
    page.wait_for_selector("#backfill-summary[data-count='2']")
    page.click("#launch-backfill")
    backfill_id = backfill_id_of(page)

    assert "REQUESTED" in page.inner_text("#backfill-subtitle")
    assert not page.is_hidden("#cancel-backfill")
    rows = page.locator("#backfill-partition-table tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.partition)") == KEYS[3:5]
    assert counts(page, "#backfill-counts") == {"PENDING": 2}

    tick_until(daemon, ui, backfill_id, "COMPLETED")
    page.wait_for_selector("body[data-backfill-status=COMPLETED]")  # the page refreshed itself
    page.wait_for_function(
        "document.querySelectorAll('#backfill-partition-table td a[href^=\"/runs/\"]').length === 2"
    )
    assert counts(page, "#backfill-counts") == {"FAILED": 1, "MATERIALIZED": 1}
    bar = page.locator("#backfill-bar rect.partition-segment")
    assert bar.evaluate_all("rs => rs.map(r => r.dataset.status)") == ["MATERIALIZED", "FAILED"]
    assert (
        page.get_attribute(
            f"#backfill-partition-table tr[data-partition='{KEYS[4]}']", "data-status"
        )
        == "FAILED"
    )
    page.wait_for_selector(
        f"#backfill-partition-table tr[data-partition='{KEYS[3]}'] [data-status=SUCCESS]"
    )
    assert page.is_hidden("#cancel-backfill") and page.is_hidden("#resume-backfill")
    shoot(page, "backfill")

    open_page(page, ui.url + "/assets/daily_sales")
    page.wait_for_selector("#asset-partitions:not([hidden]) svg.partition-bar")
    assert counts(page, "#asset-partitions") == {"MATERIALIZED": 1, "FAILED": 1, "MISSING": 4}
    segments = page.locator("#partition-bar rect.partition-segment")
    assert segments.evaluate_all("rs => rs.map(r => r.dataset.status)") == [
        "MISSING",
        "MATERIALIZED",
        "FAILED",
        "MISSING",
    ]
    # a click on the bar shows that partition and its run
    box = page.locator("#partition-bar svg").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 3.5 / 6, box["y"] + box["height"] / 2)
    page.wait_for_selector(f"#partition-detail[data-partition='{KEYS[3]}'] #partition-runs tr")
    assert "SUCCESS" in page.inner_text("#partition-runs")

    page.click("#open-backfill")
    page.wait_for_selector("#backfill-form")
    page.check("input[name=backfill-which][value=missing]")
    page.wait_for_selector("#backfill-summary[data-count='4']")
    shoot(page, "asset-partitions")
    page.check("input[name=backfill-which][value=failed]")
    page.wait_for_selector("#backfill-summary[data-count='1']")
    page.click("#launch-backfill")
    failed_again = backfill_id_of(page)
    rows = page.locator("#backfill-partition-table tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.partition)") == [KEYS[4]]
    cancel_backfill(daemon.instance, failed_again)  # it would only fail again
    tick_until(daemon, ui, failed_again, "CANCELED")


def test_backfill_from_the_job_page_cancel_and_resume(ui: UiInstance, daemon: Any, page: Any):
    open_page(page, ui.url + "/jobs/parts/sales_job")
    page.wait_for_selector("#job-backfill:not([hidden]) #backfill-form")
    assert page.inner_text("#job-partitions") == "6 partitions"
    page.fill("#backfill-max-runs", "1")
    page.click("#launch-backfill")
    backfill_id = backfill_id_of(page)
    assert page.locator("#backfill-partition-table tbody tr").count() == 6

    page.click("#cancel-backfill")
    assert page.inner_text("#confirm-ok") == "Cancel the backfill"
    page.click("#confirm-ok")
    page.wait_for_selector("body[data-backfill-status=CANCELING]")
    tick_until(daemon, ui, backfill_id, "CANCELED")
    page.wait_for_selector("body[data-backfill-status=CANCELED]")
    assert page.is_hidden("#cancel-backfill")

    page.click("#resume-backfill")
    page.click("#confirm-ok")
    page.wait_for_selector("body[data-backfill-status=REQUESTED]")
    assert ui.storage.get_backfill(backfill_id).status.value == "REQUESTED"

    open_page(page, ui.url + "/backfills")
    rows = page.locator("#backfill-table tbody tr")
    assert rows.count() == 3
    assert rows.first.get_attribute("data-backfill") == backfill_id  # newest first
    shoot(page, "backfills")
    page.click("#backfill-tabs a[data-status=COMPLETED]")
    page.wait_for_selector("body[data-ready]")
    page.wait_for_function(
        "document.querySelectorAll('#backfill-table tbody tr[data-status=COMPLETED]').length === 1"
    )
    assert page.locator("#backfill-table tbody tr").count() == 1
    page.click("#backfill-table tbody tr a[href^='/backfills/']")
    page.wait_for_selector("body[data-backfill-status=COMPLETED]")
    # cancel the resumed one, so that no run is left behind for the next module
    cancel_backfill(daemon.instance, backfill_id)
    tick_until(daemon, ui, backfill_id, "CANCELED")


def test_automation_evaluations_on_the_asset_page(ui: UiInstance, daemon: Any, page: Any):
    from opgraph.automation.daemon import AutomationDaemon

    open_page(page, ui.url + "/assets/hourly_source")
    assert page.is_hidden("#asset-automation")  # no condition, no panel

    open_page(page, ui.url + "/assets/hourly_rollup")
    page.wait_for_selector("#asset-automation:not([hidden])")
    assert page.inner_text("#automation-condition") == "on_cron(0 * * * *, UTC)"
    assert "Not evaluated yet" in page.inner_text("#automation-evaluations")

    part = AutomationDaemon(daemon.instance, daemon.workspace)
    now = time.time()
    part.tick(now)
    part.tick(now + 1)
    page.reload()
    page.wait_for_selector("#automation-table tbody tr")
    rows = page.locator("#automation-table tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.cells[0].textContent)") == ["2", "1"]
    assert "not requested" in rows.last.inner_text()
    rows.last.click()
    page.wait_for_selector("#automation-tree ul.tree li")
    assert page.text_content("#automation-tree h3") == "Evaluation 1"
    assert "on_cron(0 * * * *, UTC)" in page.inner_text("#automation-tree")
    assert page.locator("#automation-tree li").count() > 1  # the condition's operands
    shoot(page, "asset-automation")


def test_launch_one_partition_from_the_launchpad(ui: UiInstance, page: Any):
    from tests.ui.test_ui_actions import run_id_of
    from tests.ui.test_ui_pages import wait_finished

    open_page(page, ui.url + "/jobs/parts/sales_job")
    page.wait_for_selector("#partition-picker:not([hidden])")
    assert page.locator("#launch-partition option").count() == 1 + len(KEYS)
    page.select_option("#launch-partition", KEYS[0])
    page.wait_for_selector("#validation[data-state=valid]")
    page.click("#launch-run")
    run_id = run_id_of(page)
    assert wait_finished(ui, run_id) == "SUCCESS"
    tags = ui.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
        {"id": run_id},
    )["runOrError"]["tags"]
    assert {"key": "dagster/partition", "value": KEYS[0]} in tags
    statuses = ui.storage.get_asset_partition_statuses("daily_sales", [KEYS[0]])
    assert statuses[KEYS[0]].value == "MATERIALIZED"
