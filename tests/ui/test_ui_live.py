"""Issue #18's "found" list, tried in a real browser: daemon health per part, GraphiQL in
the navigation, pages that keep themselves fresh, the runs filters, the run-not-found page,
"Reload all" with progress, and the cancel dialog's wording."""

from __future__ import annotations

import time
from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_pages import wait_finished

LIVE_TIMEOUT_MS = 15_000  # a page polls every second; the run itself takes a few seconds


def test_daemon_health_judges_each_part_by_its_own_interval(ui: UiInstance, page: Any):
    """An hourly part that beat ten minutes ago is healthy; the standby beat the active
    daemon left behind when it took over does not make the daemon unhealthy."""
    from opgraph.daemon.controller import LEASE_NAME
    from opgraph_storage.records import DaemonHeartbeat

    now = time.time()
    storage = ui.storage
    holder = "daemon-under-test"
    assert storage.acquire_lease(LEASE_NAME, holder, "host-a", 4242, now, 600) is not None
    beats = [
        DaemonHeartbeat("DAEMON", holder, now, {"state": "active"}),
        DaemonHeartbeat(
            "SCHEDULER",
            holder,
            now - 5,
            {"state": "running", "interval_seconds": 30, "stale_after_seconds": 90},
        ),
        DaemonHeartbeat(
            "RETENTION",
            holder,
            now - 600,
            {"state": "running", "interval_seconds": 3600, "stale_after_seconds": 3660},
        ),
        # It waited as standby for the previous daemon's lease to run out, then took over.
        DaemonHeartbeat("DAEMON_STANDBY", holder, now - 300, {"state": "standby"}),
    ]
    for beat in beats:
        storage.add_daemon_heartbeat(beat)
    try:
        open_page(page, ui.url + "/")
        assert page.inner_text("#stat-daemon .value") == "healthy"
        assert page.get_attribute("#daemons tr[data-daemon=RETENTION]", "data-healthy") == "true"

        open_page(page, ui.url + "/deployment")
        retention = page.locator("#daemon-table tr[data-daemon=RETENTION]")
        assert retention.get_attribute("data-healthy") == "true"
        assert "1 h" in retention.inner_text()  # it says how often the part beats
        standby = page.locator("#daemon-table tr[data-daemon=DAEMON_STANDBY]")
        assert standby.get_attribute("data-role") == "left"
        assert "unhealthy" not in page.inner_text("#daemon-table")
        shoot(page, "deployment-daemon-health")

        # A part of the active daemon that is late is still reported.
        storage.add_daemon_heartbeat(
            DaemonHeartbeat(
                "SCHEDULER",
                holder,
                now - 200,
                {"state": "running", "interval_seconds": 30, "stale_after_seconds": 90},
            )
        )
        open_page(page, ui.url + "/")
        assert page.inner_text("#stat-daemon .value") == "unhealthy"

        # The daemon stopped (its lease released): its beats are ones it left behind.
        storage.release_lease(LEASE_NAME, holder, time.time())
        open_page(page, ui.url + "/deployment")
        roles = page.locator("#daemon-table tr").evaluate_all("rs => rs.map(r => r.dataset.role)")
        assert set(roles) - {None} == {"left"}
        assert "No daemon holds the lease" in page.inner_text("#daemons")
    finally:
        storage.release_lease(LEASE_NAME, holder, time.time())


def test_graphiql_is_linked_from_every_page(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/runs")
    page.click("header nav a[href='/graphql']")
    page.locator(".graphiql-container").wait_for()
    assert page.url.startswith(ui.url + "/graphql")


def test_lists_and_summaries_refresh_themselves(ui: UiInstance, page: Any, browser: Any):
    """A run launched elsewhere appears on the runs list, the overview and its job's page
    without a reload; schedules, sensors, deployment and the jobs list read their data again."""
    open_page(page, ui.url + "/runs")
    overview = page.context.new_page()
    open_page(overview, ui.url + "/")
    job_page = page.context.new_page()
    open_page(job_page, ui.url + "/jobs/ui/numbers")
    before = int(overview.inner_text("#stat-successes .value"))

    run_id = ui.launch("numbers")
    page.wait_for_selector(f"#runs-table tr[data-run-id='{run_id}']", timeout=LIVE_TIMEOUT_MS)
    job_page.wait_for_selector(f"#recent-runs a[href='/runs/{run_id}']", timeout=LIVE_TIMEOUT_MS)
    assert wait_finished(ui, run_id) == "SUCCESS"
    overview.wait_for_function(
        f"document.querySelector('#stat-successes .value').textContent === '{before + 1}'",
        timeout=LIVE_TIMEOUT_MS,
    )
    page.wait_for_selector(
        f"#runs-table tr[data-run-id='{run_id}'] [data-status=SUCCESS]", timeout=LIVE_TIMEOUT_MS
    )
    assert "updated" in page.inner_text("#updated-ago")
    for tab in (overview, job_page):
        tab.close()

    for path in ("/schedules", "/sensors", "/deployment", "/jobs"):
        open_page(page, ui.url + path)
        page.wait_for_function("Number(document.body.dataset.updates) >= 2", timeout=20_000)


def test_runs_filters(ui: UiInstance, page: Any):
    prod = ui.launch("numbers", tags={"env": "prod", "team": "a"})
    dev = ui.launch("numbers", tags={"env": "dev", "team": "a"})
    for run_id in (prod, dev):
        wait_finished(ui, run_id)
    ui.storage.add_run_tags(prod, {"opgraph/origin": "test"})

    open_page(page, ui.url + "/runs")
    row = page.locator(f"#runs-table tr[data-run-id='{prod}']")
    assert "env=prod" in row.inner_text()
    assert "opgraph/" not in page.inner_text("#runs-table")  # system tags hidden
    page.check("#show-system-tags")
    page.wait_for_selector(f"#runs-table tr[data-run-id='{prod}'] [data-tag='opgraph/origin=test']")
    page.uncheck("#show-system-tags")

    # A tag in the table filters by it; a second tag narrows further.
    row.locator("[data-tag='team=a']").click()
    page.wait_for_function("document.querySelector('#runs-count').textContent.startsWith('2 ')")
    assert "tag=team%3Da" in page.url
    page.fill("#run-filter-input", "tag:env=prod")
    page.press("#run-filter-input", "Enter")
    page.wait_for_function("document.querySelector('#runs-count').textContent.startsWith('1 ')")
    assert page.locator("#run-filter-chips [data-kind=tag]").count() == 2
    assert page.locator("#runs-table tbody tr").get_attribute("data-run-id") == prod
    shoot(page, "runs-filtered")

    # Part of a job's name (the filter bar's suggestions: test_ui_runs_filter.py).
    open_page(page, ui.url + "/runs?job=umbe")
    assert "numbers" in page.inner_text("#job-matches")
    assert page.locator(f"#runs-table tr[data-run-id='{dev}']").count() == 1

    # A run id; status tabs.
    open_page(page, f"{ui.url}/runs?run={dev}")
    assert page.locator("#runs-table tbody tr").count() == 1
    page.click("#status-tabs a[data-tab=FAILURE]")
    page.wait_for_url(lambda url: "status=FAILURE" in url)
    assert page.locator("#status-tabs a.active").inner_text() == "Failed"


def test_runs_filter_by_launcher_and_date(ui: UiInstance, page: Any):
    by_ui = ui.launch("numbers", tags={"opgraph/launched_by": "ui"})
    other = ui.launch("numbers")
    for run_id in (by_ui, other):
        wait_finished(ui, run_id)
    open_page(page, ui.url + "/runs")
    page.wait_for_selector(f"#runs-table tr[data-run-id='{other}']")
    page.fill("#run-filter-input", "launched_by:ui")
    page.press("#run-filter-input", "Enter")
    page.wait_for_url(lambda url: "launched=ui" in url)
    page.wait_for_selector(f"#runs-table tr[data-run-id='{other}']", state="detached")
    assert page.locator(f"#runs-table tr[data-run-id='{by_ui}']").count() == 1

    page.fill("#run-filter-input", "after:2000-01-01")
    page.press("#run-filter-input", "Enter")
    page.wait_for_url(lambda url: "after=2000-01-01" in url)
    page.wait_for_selector(f"#runs-table tr[data-run-id='{by_ui}']")
    page.fill("#run-filter-input", "before:2000-01-02")
    page.press("#run-filter-input", "Enter")
    page.wait_for_url(lambda url: "before=2000-01-02" in url)
    page.wait_for_function("document.querySelector('#runs-count').textContent.startsWith('0 ')")
    assert page.locator(f"#runs-table tr[data-run-id='{by_ui}']").count() == 0


def test_run_not_found_says_so_without_spinners(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/runs/no-such-run")
    assert "There is no run with id no-such-run" in page.inner_text("#run-missing")
    assert page.locator(".loading:visible").count() == 0
    shoot(page, "run-not-found")


def test_reload_all_shows_progress(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/deployment")
    page.click("#reload-all")
    # Each reload starts the location's code server anew: at load 17-19 the three took
    # over the default 20 s.
    page.wait_for_selector("#reload-progress-label[data-done]", timeout=120_000)
    assert page.get_attribute("#reload-progress", "value") == "3"
    label = page.inner_text("#reload-progress-label")
    assert "3 location(s): 2 loaded, 1 with errors" in label  # `broken` fails to load
    shoot(page, "deployment-reload-all")


def test_cancel_dialog_says_what_each_button_does(ui: UiInstance, page: Any):
    run_id = ui.launch("sleepy")
    try:
        open_page(page, f"{ui.url}/runs/{run_id}")
        page.click("#cancel-run")
        dialog = page.locator("#confirm-dialog")
        assert page.inner_text("#confirm-ok") == "Cancel the run"
        assert page.inner_text("#confirm-back") in ("Keep running", "Keep it queued")
        assert "CANCELED" in dialog.inner_text() or "will not run" in dialog.inner_text()
        page.click("#confirm-back")
        assert not dialog.is_visible()
        assert ui.status(run_id) not in ("CANCELING", "CANCELED")
    finally:
        ui.gql(
            "mutation($id: String!) { terminateRun(runId: $id, policy: FORCE) { __typename } }",
            {"id": run_id},
        )
        wait_finished(ui, run_id)


def test_global_search_finds_jobs_schedules_sensors_and_runs(ui: UiInstance, page: Any):
    run_id = ui.launch("numbers")
    wait_finished(ui, run_id)
    open_page(page, ui.url + "/")
    page.keyboard.press("Control+k")
    page.wait_for_selector("#search-dialog[open]")
    page.keyboard.type("hourly")
    page.wait_for_selector("#search-results a[data-kind=schedule]")
    page.fill("#search-input", "quiet_sen")
    page.wait_for_selector("#search-results a.active[data-kind=sensor]")
    page.fill("#search-input", "numb")
    page.wait_for_selector("#search-results a.active[data-kind=job]")
    shoot(page, "search")
    page.keyboard.press("Enter")
    page.wait_for_url(ui.url + "/jobs/ui/numbers")

    page.wait_for_selector("body[data-ready]")
    page.click("#search-button")
    page.fill("#search-input", run_id)
    page.wait_for_selector("#search-results a.active[data-kind=run]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{ui.url}/runs/{run_id}")


def test_overview_draws_the_runs_timeline(ui: UiInstance, page: Any):
    run_id = ui.launch("numbers")
    wait_finished(ui, run_id)
    open_page(page, ui.url + "/")
    page.wait_for_selector(f"#runs-timeline a[data-run-id='{run_id}']")
    assert "numbers" in page.locator("#runs-timeline svg").text_content()
    shoot(page, "overview-runs-timeline")
