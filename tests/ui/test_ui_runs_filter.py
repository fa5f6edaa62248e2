"""The runs list's typeahead filter bar (issue #18): `job:` suggests the workspace's jobs,
tag chips narrow the list and removing one widens it again, every chip is kept in the URL
(reload and back keep them), and a token that does not fit says what it expects."""

from __future__ import annotations

import time
from typing import Any

import pytest

from opgraph_storage.records import RunRecord, RunStatus
from tests.ui.conftest import UiInstance, open_page, shoot

DAY = 86_400


@pytest.fixture(scope="module")
def made(ui: UiInstance) -> dict[str, str]:
    """Finished runs written straight into storage (none needs to execute to be listed)."""
    now = time.time()
    runs = {
        "both": RunRecord(
            "filter-both", "numbers", RunStatus.SUCCESS, tags={"env": "prod", "team": "a"}
        ),
        "prod": RunRecord("filter-prod", "numbers", RunStatus.FAILURE, tags={"env": "prod"}),
        "team": RunRecord("filter-team", "wide", RunStatus.SUCCESS, tags={"team": "a"}),
        "by_ui": RunRecord(
            "filter-by-ui", "sleepy", RunStatus.SUCCESS, tags={"opgraph/launched_by": "ui"}
        ),
        "old": RunRecord("filter-old", "wide", RunStatus.SUCCESS, tags={"env": "dev"}),
    }
    for i, (name, run) in enumerate(runs.items()):
        created = now - (40 * DAY if name == "old" else 60 * (len(runs) - i))
        ui.storage.add_run(
            RunRecord(**{**run.__dict__, "created_at": created, "updated_at": created})
        )
    return {name: run.run_id for name, run in runs.items()}


def shown(page: Any) -> set[str]:
    ids = page.locator("#runs-table tbody tr[data-run-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.runId)"
    )
    return set(ids)


def wait_shown(page: Any, ids: set[str]) -> None:
    """Wait until the table lists exactly `ids` (the page loads after each chip)."""
    page.wait_for_function(
        """ids => {
          const shown = [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')]
            .map(r => r.dataset.runId).sort();
          return JSON.stringify(shown) === JSON.stringify(ids);
        }""",
        arg=sorted(ids),
    )


def suggestions(page: Any, *expected: str) -> list[str]:
    """The suggestions offered, once they include `expected` (the workspace's jobs and the
    newest runs' tags arrive after the page is ready)."""
    for value in expected:
        page.wait_for_selector(f"#run-filter-suggestions li[data-value='{value}']")
    page.wait_for_selector("#run-filter-suggestions:not([hidden])")
    return list(
        page.locator("#run-filter-suggestions li").evaluate_all(
            "items => items.map(li => li.dataset.value)"
        )
    )


def test_job_prefix_suggests_the_workspace_jobs(ui: UiInstance, made: dict[str, str], page: Any):
    open_page(page, ui.url + "/runs")
    page.click("#run-filter-input")
    page.keyboard.type("jo")
    assert suggestions(page)[0] == "job:"
    page.keyboard.type("b:")
    offered = suggestions(page, "job:numbers")
    assert {"job:numbers", "job:sleepy", "job:wide"} <= set(offered)
    page.keyboard.type("wi")
    page.wait_for_function(
        "[...document.querySelectorAll('#run-filter-suggestions li')]"
        ".every(li => li.dataset.value.includes('wi'))"
    )
    assert "job:wide" in suggestions(page)
    shoot(page, "runs-filter-suggestions")
    page.click("#run-filter-suggestions li[data-value='job:wide']")
    wait_shown(page, {made["team"], made["old"]})
    assert page.locator("#run-filter-chips [data-kind=job]").get_attribute("data-value") == "wide"
    assert "job=wide" in page.url


def test_two_tag_chips_narrow_and_removing_one_widens(
    ui: UiInstance, made: dict[str, str], page: Any
):
    open_page(page, ui.url + "/runs")
    page.click("#run-filter-input")
    page.keyboard.type("tag:")
    assert {"tag:env=", "tag:team="} <= set(suggestions(page, "tag:env="))  # keys seen on runs
    page.keyboard.type("env=")
    assert {"tag:env=prod", "tag:env=dev"} <= set(suggestions(page))  # values of that key
    page.keyboard.type("prod")
    page.keyboard.press("Enter")
    wait_shown(page, {made["both"], made["prod"]})

    page.keyboard.type("tag:team=a")
    page.keyboard.press("Enter")
    wait_shown(page, {made["both"]})
    assert page.locator("#run-filter-chips .filter-chip").count() == 2
    assert "tag=env%3Dprod" in page.url and "tag=team%3Da" in page.url
    shoot(page, "runs-filter-two-tags")

    page.click("#run-filter-chips [data-value='env=prod'] .chip-remove")
    wait_shown(page, {made["both"], made["team"]})
    assert page.locator("#run-filter-chips .filter-chip").count() == 1

    # A tag in a row adds its chip beside the typed one.
    page.locator(f"#runs-table tr[data-run-id='{made['both']}'] [data-tag='env=prod']").click()
    wait_shown(page, {made["both"]})


def test_every_chip_round_trips_through_the_url(ui: UiInstance, made: dict[str, str], page: Any):
    open_page(page, ui.url + "/runs")
    page.click("#run-filter-input")
    for token in ("status:success", "launched_by:ui", "after:2000-01-01"):
        page.keyboard.type(token)
        page.keyboard.press("Enter")
    wait_shown(page, {made["by_ui"]})
    chips = page.locator("#run-filter-chips .filter-chip").evaluate_all(
        "cs => cs.map(c => c.dataset.kind + ':' + c.dataset.value)"
    )
    assert chips == ["status:SUCCESS", "launched_by:ui", "after:2000-01-01"]
    url = page.url
    assert "status=SUCCESS" in url and "launched=ui" in url and "after=2000-01-01" in url

    page.reload()
    page.wait_for_selector("body[data-ready]")
    wait_shown(page, {made["by_ui"]})
    assert page.locator("#run-filter-chips .filter-chip").count() == 3

    # Backspace in the empty input removes the last chip; back brings it again.
    page.click("#run-filter-input")
    page.keyboard.press("Backspace")
    page.wait_for_function("!location.search.includes('after=')")
    page.go_back()
    page.wait_for_function("location.search.includes('after=')")
    wait_shown(page, {made["by_ui"]})
    assert page.locator("#run-filter-chips [data-kind=after]").count() == 1

    # Run ids: several widen the list; a status tab replaces only the status chips.
    open_page(page, f"{ui.url}/runs?run={made['old']}&run={made['prod']}")
    wait_shown(page, {made["old"], made["prod"]})
    page.click("#status-tabs a[data-tab=FAILURE]")
    wait_shown(page, {made["prod"]})
    assert page.locator("#status-tabs a.active").inner_text() == "Failed"
    assert page.locator("#run-filter-chips [data-kind=id]").count() == 2

    # A day range: before: the old run's day leaves only it.
    open_page(page, ui.url + "/runs")
    old_day = page.evaluate(
        "d => new Date(Date.now() - d).toLocaleDateString('sv-SE')", 39 * DAY * 1000
    )
    page.click("#run-filter-input")
    page.keyboard.type(f"before:{old_day}")
    page.keyboard.press("Enter")
    wait_shown(page, {made["old"]})


def test_a_token_that_does_not_fit_says_what_it_expects(
    ui: UiInstance, made: dict[str, str], page: Any
):
    open_page(page, ui.url + "/runs")
    page.click("#run-filter-input")
    for typed, expected in (
        ("after:yesterday", 'after: expected a day like 2026-11-01, got "yesterday"'),
        ("tag:nokey", 'tag: expected key=value, got "nokey"'),
        ("status:done", "status: expected one of QUEUED"),
    ):
        page.fill("#run-filter-input", typed)
        page.keyboard.press("Enter")
        assert expected in page.inner_text("#run-filter-problem")
        assert page.locator("#run-filter-chips .filter-chip").count() == 0

    # A range the server refuses names the field.
    open_page(page, ui.url + "/runs?after=2026-02-01&before=2026-01-01")
    assert "filter.createdAfter" in page.inner_text("#notices")
