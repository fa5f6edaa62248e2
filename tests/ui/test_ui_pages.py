"""Every page renders real data from a real webserver; everything shown is escaped;
read-only mode hides every action."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, shoot

HTML_TAG = "<img src=x onerror=window.__xss=3>"


def wait_finished(ui: UiInstance, run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ui.status(run_id)
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {ui.status(run_id)} after {timeout}s")


@pytest.fixture(scope="module")
def runs(ui: UiInstance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A run that succeeded (with HTML in its log, stdout, tags and config), one that
    failed and one that retried a step."""
    marker = tmp_path_factory.mktemp("marker") / "fail"
    marker.write_text("x")
    made = {
        "success": ui.launch(
            "numbers",
            {"ops": {"emit": {"config": {"n": 3, "gate": HTML_TAG}}}},
            tags={"note": HTML_TAG, "team": "data"},
        ),
        "failure": ui.launch(
            "numbers", {"ops": {"flaky": {"config": {"fail_while": str(marker)}}}}
        ),
        "retried": ui.launch("numbers", {"ops": {"flaky": {"config": {"retry_once": True}}}}),
    }
    for run_id in made.values():
        wait_finished(ui, run_id)
    return made


def test_overview_shows_runs_daemon_and_fleet(ui: UiInstance, runs: dict[str, str], page: Any):
    open_page(page, ui.url + "/")

    assert page.inner_text("#stat-successes .value") == "2"
    assert page.inner_text("#stat-failures .value") == "1"
    assert page.locator(f"#failures tr[data-run-id='{runs['failure']}']").count() == 1
    assert "No daemon holds the lease" in page.inner_text("#daemons")
    # The fleet answered (other sessions' workers on the shared broker may answer too).
    page.wait_for_selector("#stat-workers")
    assert page.inner_text("#stat-workers .value").isdigit()
    assert "busy slots" in page.inner_text("#fleet")
    shoot(page, "overview")


def test_runs_table_filters_and_pages(ui: UiInstance, runs: dict[str, str], page: Any):
    open_page(page, ui.url + "/runs")

    assert page.locator("#runs-table tbody tr").count() == 3
    assert "3 runs match" in page.inner_text("#runs-count")
    row = page.locator(f"#runs-table tr[data-run-id='{runs['success']}']")
    assert "note=" + HTML_TAG in row.inner_text()
    assert "CLI / API" in row.inner_text()
    shoot(page, "runs")

    page.fill("#run-filter-input", "status:failure")
    page.press("#run-filter-input", "Enter")
    page.wait_for_function("document.querySelector('#runs-count').textContent.startsWith('1 ')")
    assert page.locator("#runs-table tbody tr").get_attribute("data-run-id") == runs["failure"]
    assert "status=FAILURE" in page.url

    page.goto(ui.url + "/runs?limit=25&tag=team%3Ddata")
    page.wait_for_selector("body[data-ready]")
    ids = page.locator("#runs-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.runId)"
    )
    assert ids == [runs["success"]]

    page.goto(ui.url + "/runs?limit=25")  # pages of 2 with the cursor
    page.wait_for_selector("body[data-ready]")
    page.select_option("#limit-filter", "25")


def test_run_page_draws_timeline_and_graph(ui: UiInstance, runs: dict[str, str], page: Any):
    open_page(page, f"{ui.url}/runs/{runs['retried']}")
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_selector("#run-status [data-status=SUCCESS]")

    timeline = page.locator("#timeline svg")
    # Four steps, flaky twice (its first attempt asked for a retry): five bars.
    page.wait_for_function("document.querySelector('#timeline svg').dataset.bars === '5'")
    flaky_bars = timeline.locator("rect[data-step=flaky]")
    assert flaky_bars.count() == 2
    assert flaky_bars.nth(0).get_attribute("data-status") == "UP_FOR_RETRY"
    assert flaky_bars.nth(1).get_attribute("data-status") == "SUCCESS"
    worker = flaky_bars.nth(1).get_attribute("data-worker")
    assert worker and worker in flaky_bars.nth(1).locator("title").text_content()

    page.wait_for_selector("#run-graph svg .graph-node")
    graph = page.locator("#run-graph svg")
    assert graph.get_attribute("data-nodes") == "4"
    assert graph.locator(".graph-node").count() == 4
    assert graph.locator(".graph-edge").count() == 3
    assert graph.locator(".graph-node[data-status=SUCCESS]").count() == 4

    total = ui.gql(
        "query($id: String!) { logsForRun(runId: $id, limit: 10000) { ... on EventConnection { events { cursor } } } }",
        {"id": runs["retried"]},
    )["logsForRun"]["events"]
    assert page.get_attribute("#event-log", "data-total") == str(len(total))
    assert page.locator("#steps-table tr[data-step=flaky] td").nth(3).inner_text() == "2"
    shoot(page, "run")


def test_event_log_filters(ui: UiInstance, runs: dict[str, str], page: Any):
    open_page(page, f"{ui.url}/runs/{runs['failure']}")
    page.wait_for_selector("body[data-stream-ended]")

    page.select_option("#event-log-root select[name=type]", "STEP_FAILURE")
    page.wait_for_function("document.querySelector('#event-log').dataset.shown === '1'")
    assert "flaky failed on purpose" in page.inner_text("#event-log")
    page.select_option("#event-log-root select[name=type]", "")
    page.fill("#event-log-root input[type=search]", "waiting for the gate")
    page.wait_for_function("document.querySelector('#event-log').dataset.shown === '0'")
    page.fill("#event-log-root input[type=search]", "")
    page.click("#steps-table tr[data-step=emit] a")  # one step everywhere
    page.wait_for_function(
        "document.querySelector('#event-log-root select[name=step]').value === 'emit'"
    )
    page.wait_for_function("document.querySelector('#stdout').textContent.includes('emitting 1')")
    assert page.locator("#run-graph .graph-node.selected").get_attribute("data-node") == "emit"


def test_everything_shown_is_escaped(ui: UiInstance, runs: dict[str, str], page: Any):
    open_page(page, f"{ui.url}/runs/{runs['success']}")
    page.wait_for_selector("body[data-stream-ended]")

    page.fill("#event-log-root input[type=search]", "report <script>")
    page.wait_for_function("document.querySelector('#event-log').dataset.shown === '1'")
    row = page.locator("#event-log .log-row").first
    assert "report <script>window.__xss = 1</script><b>7</b>" in row.inner_text()
    row.click()
    assert "<script>window.__xss = 1</script>" in page.inner_text(".log-detail-message")
    page.click("#steps-table tr[data-step=report] a")
    page.wait_for_function("document.querySelector('#stdout').textContent.includes('printed')")
    assert "<img src=x onerror=window.__xss=2> printed" in page.inner_text("#stdout")
    assert HTML_TAG in page.inner_text("#run-config")
    assert f"note={HTML_TAG}" in page.inner_text("#run-tags")
    # Shown as text: no element was made from it, no handler ran.
    assert page.locator("main script, main img, main b").count() == 0
    assert page.evaluate("window.__xss") is None


def test_jobs_pages(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/jobs")
    rows = page.locator("[data-location=ui] tr[data-job]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.job)") == [
        "numbers",
        "sleepy",
        "wide",
        "configured",
        "chatty",
    ]
    assert "schedule hourly_numbers" in page.inner_text("[data-location=ui] tr[data-job=numbers]")
    broken = page.locator("[data-location=broken]")
    assert "ERROR" in broken.locator(".badge").inner_text()
    error = broken.locator(".load-error")
    assert "RuntimeError: <b>broken</b> on purpose" in error.inner_text()
    assert "broken_location.py:5" in error.inner_text()
    error.locator("summary").click()
    assert "_load()" in error.locator("pre").inner_text()  # the user's traceback
    assert page.locator("main b").count() == 0
    shoot(page, "jobs")

    open_page(page, ui.url + "/jobs/ui/numbers")
    assert page.locator("#job-graph .graph-node").count() == 4
    page.click("#job-graph .graph-node[data-node=flaky]")
    detail = page.inner_text("#op-detail")
    assert "max_retries" in detail and "fail_while" in detail
    page.wait_for_selector("#validation[data-state=valid]")
    assert "n: 1" in page.input_value("#run-config-editor")
    shoot(page, "job")


def test_wide_job_graph_is_laid_out(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/jobs/ui/wide")

    graph = page.locator("#job-graph svg")
    assert graph.locator(".graph-node").count() == 202
    assert graph.locator(".graph-edge").count() == 400
    # Laid out in layers: origin, then the 200 leaves side by side, then gather.
    xs = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#job-graph .graph-node')]
             .map(n => [n.dataset.node, Number(n.querySelector('rect').getAttribute('x'))]))"""
    )
    assert xs["origin"] < xs["leaf_0"] == xs["leaf_199"] < xs["gather"]
    shoot(page, "job-wide")


def test_schedules_toggle_ticks_and_dry_run(ui: UiInstance, page: Any):
    from opgraph_storage.records import TickRecord, TickStatus

    ui.storage.create_tick(
        TickRecord("ui:hourly_numbers", "hourly_numbers@test", TickStatus.FAILURE, time.time() - 60,
                   error="<b>boom</b> in the schedule function")
    )  # fmt: skip
    open_page(page, ui.url + "/schedules")
    row = page.locator("#instigator-table tr[data-name=hourly_numbers]")
    assert "0 * * * *" in row.inner_text()
    assert row.get_attribute("data-status") == "STOPPED"
    assert "FAILURE" in row.inner_text()  # the last tick

    row.locator("button[data-toggle]").click()
    page.wait_for_selector("#instigator-table tr[data-name=hourly_numbers][data-status=RUNNING]")
    running = page.locator("#instigator-table tr[data-name=hourly_numbers]")
    assert ":00:00" in running.locator("td").nth(5).inner_text()  # the next tick, on the hour
    shoot(page, "schedules")

    running.locator("a").first.click()
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("#instigator-status", "data-status") == "RUNNING"
    assert page.locator("#next-ticks li").count() == 5
    tick = page.locator("#tick-table tr[data-tick='hourly_numbers@test']")
    assert "<b>boom</b> in the schedule function" in tick.inner_text()
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-requests li")
    assert '"runConfig": {}' in page.inner_text("#dry-run-requests")  # one run, no config
    shoot(page, "schedule")
    page.click("#instigator-status button[data-toggle]")
    page.wait_for_selector("#instigator-status[data-status=STOPPED]")
    assert page.locator("main b").count() == 0

    open_page(page, ui.url + "/sensors")
    sensor = page.locator("#instigator-table tr[data-name=quiet_sensor]")
    assert "every 30 s" in sensor.inner_text()
    shoot(page, "sensors")
    sensor.locator("a").first.click()
    page.wait_for_selector("body[data-ready]")
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-skip")
    assert page.inner_text("#dry-run-skip") == "nothing to do"


def test_deployment_page(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/deployment")
    row = page.locator("#location-table tr[data-location=ui]")
    assert "LOADED" in row.inner_text()
    version = row.locator("td").nth(2).inner_text()

    row.locator("button", has_text="Reload").click()
    page.wait_for_selector(".notice-info")
    assert f"Reloaded ui: version {version}" in page.inner_text("#notices")
    page.wait_for_selector("#queue-table")
    assert ui.queue in page.inner_text("#queue-table")
    shoot(page, "deployment")


def test_unknown_run_shows_the_error(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/runs/no-such-run")
    assert "There is no run with id no-such-run" in page.inner_text("#run-missing")
    assert page.inner_text("#notices") == ""  # said once, in the page, not as a notice too


def test_read_only_hides_actions(ui: UiInstance, runs: dict[str, str], page: Any):
    server = ui.start_server(read_only=True)
    try:
        open_page(page, f"{server.url}/runs/{runs['failure']}")
        assert page.locator("text=read-only").first.is_visible()
        for button in (
            "#cancel-run",
            "#reexecute-all",
            "#reexecute-failure",
            "#reexecute-selected",
            "#reexecute-downstream",
        ):
            assert page.locator(button).is_hidden()
        assert page.locator("#steps-table input[type=checkbox]").count() == 0 or all(
            not box.is_visible() for box in page.locator("#steps-table input").all()
        )
        shoot(page, "run-read-only")

        open_page(page, f"{server.url}/runs")
        assert page.locator("#bulk-delete").is_hidden()
        assert page.locator("#select-all").is_hidden()

        open_page(page, f"{server.url}/jobs/ui/numbers")
        assert page.locator("#launchpad").is_hidden()

        open_page(page, f"{server.url}/deployment")
        reloads = page.locator("#location-table button", has_text="Reload")
        assert reloads.count() == 3
        assert all(button.is_hidden() for button in reloads.all())
        assert page.locator("#reload-all").is_hidden()

        open_page(page, f"{server.url}/assets")
        assert page.locator("#materialize-selected").is_hidden()
        assert page.locator("#select-downstream").is_hidden()

        open_page(page, f"{server.url}/schedules")
        assert page.locator("#instigator-table button[data-toggle]").is_hidden()
        open_page(page, f"{server.url}/schedules/ui/hourly_numbers")
        assert page.locator("#dry-run").is_hidden()
    finally:
        ui.servers.remove(server)
        server.stop()


def test_static_assets_are_shipped_and_pages_allow_only_them(ui: UiInstance):
    status, headers, body = ui.server.request("/runs")
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert b"http://" not in body and b"https://" not in body  # nothing from elsewhere
    status, headers, body = ui.server.request("/static/vendor/dagre/dagre.min.js")
    assert status == 200 and b"dagre" in body[:200]
    static = Path(__file__).resolve().parents[2] / "app" / "static" / "ui"
    for script in static.rglob("*.js"):
        text = script.read_text().replace('"http://www.w3.org/2000/svg"', "")  # a name, not a URL
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}: build elements with h()"
        assert "http://" not in text and "https://" not in text, (
            f"{script.name} loads from elsewhere"
        )
