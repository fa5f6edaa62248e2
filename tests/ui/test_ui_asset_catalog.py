"""The asset catalog page with more assets than the lineage draws one by one (360 in
three groups, beside the UI fixture's two): the table is read a page of 100 at a time, the lineage draws the groups
with the edges between them, and a group picked (clicked, or in the address) draws that
group's assets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, running_ui, shoot

CATALOG_FILE = Path(__file__).resolve().parent / "ui_asset_catalog.py"
ROWS = "#asset-table tr[data-asset]"
DASH = "\u2013"  # the pager's "1–100 of 362"  # noqa: RUF003


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    with running_ui(tmp_path_factory, redis_url, {"catalog": CATALOG_FILE}) as instance:
        yield instance


def _row_keys(page: Any) -> list[str]:
    return page.locator(ROWS).evaluate_all("rs => rs.map(r => r.dataset.asset)")  # type: ignore[no-any-return]


def test_a_big_catalog_pages_its_table_and_draws_groups(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/assets")
    assert page.inner_text("#assets-subtitle") == "362 assets in 5 groups"
    first = _row_keys(page)
    assert len(first) == 100
    assert page.inner_text("#asset-page-info") == f"1{DASH}100 of 362"
    assert page.is_disabled("#asset-prev")

    graph = page.locator("#asset-graph svg")
    assert graph.get_attribute("data-level") == "groups"
    nodes = graph.locator(".graph-node").evaluate_all("ns => ns.map(n => n.dataset.node).sort()")
    # The UI fixture's own two assets (groups raw and clean) are in the workspace too.
    assert nodes == ["clean", "group_0", "group_1", "group_2", "raw"]
    assert graph.locator(".graph-edge[data-from='group_0'][data-to='group_1']").count() == 1
    assert graph.locator(".graph-edge[data-from='group_1'][data-to='group_2']").count() == 1
    shoot(page, "asset_catalog_groups")

    page.click("#asset-next")
    page.wait_for_function(
        "document.querySelector('#asset-page-info').textContent.startsWith('101')"
    )
    second = _row_keys(page)
    assert len(second) == 100 and not set(first) & set(second)
    for _ in range(2):
        page.click("#asset-next")
    page.wait_for_function(
        f"document.querySelector('#asset-page-info').textContent === '301{DASH}362 of 362'"
    )
    assert page.is_disabled("#asset-next") and len(_row_keys(page)) == 62

    # A group clicked on the lineage: the table and the lineage narrow to its assets, and
    # the address keeps the choice.
    graph.locator(".graph-node[data-node='group_1']").click()
    page.wait_for_function("document.querySelector('#asset-graph svg')?.dataset.level === 'assets'")
    page.wait_for_function(
        f"document.querySelector('#asset-page-info').textContent === '1{DASH}100 of 120'"
    )
    assert {key.split("_")[0] for key in _row_keys(page)} == {"g1"}
    assert page.locator("#asset-graph .graph-node").count() == 120
    assert "group=group_1" in page.url

    # The same address opened afresh draws the same group; a search narrows on the server.
    open_page(page, page.url)
    page.wait_for_function("document.querySelector('#asset-graph svg')?.dataset.level === 'assets'")
    assert page.input_value("#asset-group") == "group_1"
    page.fill("#asset-search", "g1_a11")
    page.wait_for_function(
        f"document.querySelector('#asset-page-info').textContent === '1{DASH}10 of 10'"
    )
    assert sorted(_row_keys(page)) == [f"g1_a{i}" for i in range(110, 120)]
    shoot(page, "asset_catalog_group")
