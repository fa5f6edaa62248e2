"""The launchpad on a job with Dagster-style config types (Shape, Selector, Array,
Noneable, Enum, Permissive): required fields are scaffolded as placeholders that never
validate, "Scaffold missing config" and "Remove extra config", "Open in launchpad" from a
run; the job page draws a nested graph as a frame that folds, and shows config schemas as
tables."""

from __future__ import annotations

import re
from typing import Any

from tests.ui.conftest import UiInstance, open_page, set_config, shoot
from tests.ui.test_ui_actions import run_id_of
from tests.ui.test_ui_pages import wait_finished

JOB_URL = "/jobs/ui/configured"
COMPLETE = """ops:
  typed:
    config:
      name: Ada
      shape: {a: 1}
      pick:
        csv: {path: /tmp/x.csv}
      items: [one, two]
      color: BLUE
      extra: {k: 1, anything: else}
"""
REQUIRED = {
    "ops.typed.config.name": "string",
    "ops.typed.config.shape.a": "integer",
    "ops.typed.config.pick": "exactly one of: csv, table",
    "ops.typed.config.items": "list of string",
    "ops.typed.config.color": "one of RED | BLUE",
    "ops.typed.config.extra.k": "integer",
}


def missing(page: Any) -> dict[str, str]:
    items = page.locator("#config-missing li").evaluate_all(
        "lis => lis.map(li => [li.dataset.path, li.textContent])"
    )
    return {path: text.split("): ", 1)[-1] for path, text in items}


def test_scaffold_leaves_required_fields_as_placeholders_that_do_not_validate(
    ui: UiInstance, page: Any
):
    open_page(page, ui.url + JOB_URL)
    page.wait_for_selector("#validation[data-state=invalid]")
    assert missing(page) == REQUIRED
    assert page.is_disabled("#launch-run")
    scaffold = page.input_value("#run-config-editor")
    assert "count: 3" in scaffold  # defaults are filled in
    assert "name:  # required: string" in scaffold
    assert "maybe: null" in scaffold  # Noneable: optional, null by default
    shoot(page, "launchpad-scaffold")

    set_config(page, COMPLETE)
    page.wait_for_selector("#validation[data-state=valid]")
    assert page.is_enabled("#launch-run")

    # A wrong Enum value and a Selector with two choices are named by path.
    set_config(
        page,
        COMPLETE.replace("BLUE", "GREEN").replace(
            "csv: {path: /tmp/x.csv}", "csv: {path: p}\n        table: t"
        ),
    )
    page.wait_for_selector("#validation[data-state=invalid]")
    paths = page.locator("#config-errors li").evaluate_all("lis => lis.map(li => li.dataset.path)")
    assert "ops.typed.config.color" in paths and "ops.typed.config.pick" in paths


def test_scaffold_missing_and_remove_extra(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    page.wait_for_selector("#validation[data-state]")
    set_config(page, "ops:\n  typed:\n    config:\n      name: Ada\n      bogus: 1\n")
    page.wait_for_selector("#validation[data-state=invalid]")

    page.click("#scaffold-missing")
    page.wait_for_function("document.querySelectorAll('#config-missing li').length === 5")
    text = page.input_value("#run-config-editor")
    assert "name: Ada" in text and "bogus: 1" in text
    assert set(missing(page)) == set(REQUIRED) - {"ops.typed.config.name"}

    set_config(
        page,
        COMPLETE.replace("      name: Ada\n", "      name: Ada\n      bogus: 1\n"),
    )
    page.wait_for_selector("#validation[data-state=invalid]")
    page.click("#remove-extra")
    page.wait_for_selector("#validation[data-state=valid]")
    text = page.input_value("#run-config-editor")
    assert "bogus" not in text and "anything: else" in text  # Permissive keeps its extras


def test_launch_and_open_the_run_in_the_launchpad(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    page.wait_for_selector("#validation[data-state]")
    set_config(page, COMPLETE)
    page.click("#add-tag")
    page.fill("#tag-rows .row:last-child .tag-key", "team")
    page.fill("#tag-rows .row:last-child .tag-value", "data")
    page.wait_for_selector("#validation[data-state=valid]")
    page.click("#launch-run")
    run_id = run_id_of(page)
    # Every planned step is listed from the start, nested graph steps included.
    page.wait_for_function("Number(document.body.dataset.planSteps) === 4")
    page.wait_for_function("document.querySelectorAll('#steps-table tr[data-step]').length === 4")
    keys = page.locator("#steps-table tr[data-step]").evaluate_all(
        "rs => rs.map(r => r.dataset.step)"
    )
    assert set(keys) == {"typed", "inner.inner_first", "inner.inner_second", "last"}
    assert wait_finished(ui, run_id) == "SUCCESS"

    page.wait_for_selector("#open-launchpad:not([hidden])")
    page.click("#open-launchpad")
    page.wait_for_selector("#validation[data-state=valid]")
    assert "name: Ada" in page.input_value("#run-config-editor")
    assert page.input_value("#tag-rows .row .tag-key") == "team"
    assert run_id[:8] in page.inner_text("#launchpad-source")


def test_nested_graph_folds_and_config_schema_is_a_table(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    graph = page.locator("#job-graph svg")
    assert graph.locator(".graph-group[data-group=inner]").count() == 1
    assert graph.locator(".graph-node").count() == 4
    shoot(page, "job-nested-graph")
    graph.locator(".graph-group[data-group=inner] .group-label").click()
    page.wait_for_selector("#job-graph .graph-folded[data-group=inner]")
    assert graph.locator(".graph-node").count() == 2
    assert "2 ops" in graph.locator(".graph-folded").text_content()
    page.click("#job-graph .graph-folded[data-group=inner]")
    page.wait_for_function("document.querySelectorAll('#job-graph .graph-node').length === 4")

    page.click("#job-graph .graph-node[data-node=typed]")
    table = page.locator("#op-detail .config-table")
    assert "required" in table.locator("tr[data-field=name]").inner_text()
    assert "default 3" in table.locator("tr[data-field=count]").inner_text()
    assert "one of RED | BLUE" in table.locator("tr[data-field=color]").inner_text()
    assert table.locator("tr[data-field='csv (choice)']").count() == 1
    assert "{" not in table.inner_text()  # no raw JSON Schema in the table
    shoot(page, "job-config-table")


def test_code_editor_completes_keys_from_the_schema_and_marks_problems(
    ui: UiInstance, browser: Any
):
    """CodeMirror (vendored) under the page's own Content-Security-Policy, offline."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 900})  # CSP enforced
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if "Security Policy" in m.text else None)

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(ui.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    try:
        open_page(page, ui.url + JOB_URL)
        page.wait_for_selector("body[data-editor=codemirror] #launchpad .cm-editor")
        page.wait_for_selector("#validation[data-state=invalid]")
        # The scaffold's placeholders are marked on their lines.
        # (Selectors, not wait_for_function: under the page's policy a predicate that must be
        # polled is evaluated as a string, which the policy refuses.)
        page.locator("#launchpad .cm-lint-marker").nth(5).wait_for()

        set_config(page, "ops:\n  typed:\n    config:\n      ")
        page.click("#launchpad .cm-content")
        page.keyboard.press("Control+End")
        page.keyboard.type("na")
        option = page.locator(".cm-tooltip-autocomplete li", has_text="name")
        option.wait_for()
        assert "string · required" in page.inner_text(".cm-tooltip-autocomplete")
        # Picked with the mouse: CodeMirror refuses Enter for 75 ms after the list (re)opens
        # (its interactionDelay), so on a loaded machine Enter could land in that window
        # and insert a newline instead (seen twice at load 13). A click is always taken.
        option.click()
        page.keyboard.type("Ada")
        expect(page.locator("#run-config-editor")).to_have_value(
            re.compile(r"name: Ada$"), timeout=20_000
        )
        page.wait_for_selector("#validation[data-state=invalid]")
        page.wait_for_selector(
            '#config-errors li[data-path="ops.typed.config.name"]', state="detached"
        )

        line = page.locator("#launchpad .cm-line", has_text="typed:")
        box = line.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 30, box["y"] + box["height"] / 2)
        page.wait_for_selector(".cm-schema-doc")
        assert "ops.typed" in page.inner_text(".cm-schema-doc")
        shoot(page, "launchpad-codemirror")
        assert not problems, problems
        assert not outside, outside
    finally:
        context.close()


def test_launch_a_run_written_with_autocomplete(ui: UiInstance, page: Any):
    """A key picked from the code editor's completions, a value typed after it, then Launch:
    the run carries what was typed."""
    from playwright.sync_api import expect

    open_page(page, ui.url + "/jobs/ui/numbers")
    page.wait_for_selector("body[data-editor=codemirror] #launchpad .cm-editor")
    set_config(page, "ops:\n  emit:\n    config:\n      ")
    page.click("#launchpad .cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("n")
    option = page.locator(".cm-tooltip-autocomplete li").first
    option.wait_for()
    assert option.locator(".cm-completionLabel").inner_text() == "n"
    option.click()  # not Enter: see test_code_editor_completes_keys_from_the_schema_...
    page.keyboard.type("7")
    expect(page.locator("#run-config-editor")).to_have_value(re.compile(r"n: 7$"))
    page.wait_for_selector("#validation[data-state=valid]")
    page.click("#launch-run:enabled")
    run_id = run_id_of(page)
    assert wait_finished(ui, run_id) == "SUCCESS"
    config = ui.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { runConfigYaml } } }",
        {"id": run_id},
    )["runOrError"]["runConfigYaml"]
    assert "n: 7" in config
