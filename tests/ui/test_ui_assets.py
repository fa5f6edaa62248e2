"""The asset pages on a real code location with two assets in two groups and a check:
catalog filters, the lineage graph grouped by group name, selecting upstream/downstream
and materializing from the graph (the selection, then what is stale), the asset page's
history, checks and metadata plot."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_actions import run_id_of
from tests.ui.test_ui_pages import wait_finished


def test_catalog_filters_and_lineage_groups(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/assets")
    rows = page.locator("#asset-table tr[data-asset]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.asset)")) == [
        "clean_orders",
        "orders",
    ]
    assert page.get_attribute(
        "#asset-table tr[data-asset=orders] [data-staleness]", "data-staleness"
    ) in ("MISSING", "STALE", "FRESH")
    page.select_option("#asset-group", "clean")
    page.wait_for_function("document.querySelectorAll('#asset-table tr[data-asset]').length === 1")
    page.select_option("#asset-group", "")
    page.fill("#asset-search", "ord")
    page.wait_for_function("document.querySelectorAll('#asset-table tr[data-asset]').length === 2")
    page.select_option("#asset-owner", "team:data")
    page.wait_for_function("document.querySelectorAll('#asset-table tr[data-asset]').length === 1")
    page.select_option("#asset-owner", "")
    page.select_option("#asset-kind", "sql")
    page.wait_for_selector("#asset-table tr[data-asset=orders]", state="detached")
    assert page.locator("#asset-table tr[data-asset]").get_attribute("data-asset") == "clean_orders"
    page.select_option("#asset-kind", "")
    page.wait_for_function("document.querySelectorAll('#asset-table tr[data-asset]').length === 2")
    page.select_option("#asset-owner", "team:data")
    page.wait_for_function("document.querySelectorAll('#asset-table tr[data-asset]').length === 1")

    graph = page.locator("#asset-graph svg")
    groups = graph.locator(".graph-group").evaluate_all("gs => gs.map(g => g.dataset.group).sort()")
    assert groups == ["clean", "raw"]
    assert graph.locator(".graph-node").count() == 2
    assert (
        graph.locator(".graph-edge[data-from='raw.orders'][data-to='clean.clean_orders']").count()
        == 1
    )
    shoot(page, "assets")


def test_materialize_from_the_graph_then_read_the_asset_page(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/assets")
    page.click("#asset-graph .graph-node[data-node='raw.orders']")
    page.click("#select-downstream")
    page.wait_for_function(
        "document.querySelector('#selected-assets').textContent === '2 selected'"
    )
    assert page.locator("#asset-graph .graph-node.picked").count() == 2
    page.click("#materialize-selected")
    first = run_id_of(page)
    assert wait_finished(ui, first) == "SUCCESS"

    open_page(page, ui.url + "/assets/orders")
    page.click("#materialize-asset")
    second = run_id_of(page, leaving="/assets/orders")
    assert wait_finished(ui, second) == "SUCCESS"

    open_page(page, ui.url + "/assets/orders")
    assert page.locator("#materialization-table tbody tr").count() == 2
    plot = page.locator("#asset-plots figure[data-metadata=rows] svg")
    assert plot.get_attribute("data-points") == "2"
    assert "raw" in page.inner_text("#asset-subtitle")
    shoot(page, "asset-orders")

    open_page(page, ui.url + "/assets/clean_orders")
    check = page.locator("#check-table tr[data-check=clean_orders_not_empty]")
    assert "SUCCEEDED" in check.inner_text()
    assert "orders" in page.inner_text("#asset-definition")

    open_page(page, ui.url + "/assets")
    page.wait_for_selector("#asset-table tr[data-asset=clean_orders] [data-checks='1/1']")
    assert (
        page.get_attribute("#asset-table tr[data-asset=orders] [data-staleness]", "data-staleness")
        == "FRESH"
    )


def test_materialize_stale_launches_what_is_not_fresh(ui: UiInstance, page: Any):
    """After the test above materialized `orders` again on its own, `clean_orders` is older
    than its upstream: "Materialize stale" launches a run of it alone, and then nothing is
    left to launch."""
    open_page(page, ui.url + "/assets")
    staleness = "#asset-table tr[data-asset={}] [data-staleness]"
    assert page.get_attribute(staleness.format("orders"), "data-staleness") == "FRESH"
    assert page.get_attribute(staleness.format("clean_orders"), "data-staleness") == "STALE"
    page.click("#materialize-stale:enabled")
    run_id = run_id_of(page, leaving="/assets")
    assert wait_finished(ui, run_id) == "SUCCESS"
    # The run materialized clean_orders and left orders (two materializations) alone.
    open_page(page, ui.url + "/assets/clean_orders")
    page.wait_for_selector(f"#materialization-table a[href='/runs/{run_id}']")
    open_page(page, ui.url + "/assets/orders")
    page.wait_for_selector("#materialization-table tbody tr")
    assert page.locator("#materialization-table tbody tr").count() == 2
    open_page(page, ui.url + "/assets")
    page.wait_for_selector(f"{staleness.format('clean_orders')}[data-staleness=FRESH]")
    page.wait_for_selector("#materialize-stale:disabled")


def test_global_search_finds_an_asset(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/runs")
    page.keyboard.press("Control+k")
    page.fill("#search-input", "clean_ord")
    page.wait_for_selector("#search-results a.active[data-kind=asset]")
    page.keyboard.press("Enter")
    page.wait_for_url(ui.url + "/assets/clean_orders")
