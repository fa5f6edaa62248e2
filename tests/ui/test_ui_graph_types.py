"""The job graph's edges show what they carry: the upstream output and its Dagster type,
on hover (an SVG title on the edge and on its wider hover target), as Dagster's graph does."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot


def test_edges_show_the_type_of_their_output(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/jobs/ui/configured")
    page.wait_for_selector("#job-graph svg .graph-node")
    graph = page.locator("#job-graph svg")
    edge = graph.locator(".graph-edge[data-from='inner.inner_first'][data-to='inner.inner_second']")
    assert edge.count() == 1
    assert edge.get_attribute("data-type") == "result: int"
    assert (
        edge.locator("title").text_content()
        == "inner.inner_first → inner.inner_second\nresult: int"
    )
    hit = graph.locator(".graph-edge-hit[aria-label^='inner.inner_first → inner.inner_second']")
    assert hit.count() == 1
    # Every edge carries a type here, and each has a hover target.
    edges = graph.locator(".graph-edge")
    assert edges.count() >= 3
    assert all(edges.nth(i).get_attribute("data-type") for i in range(edges.count()))
    assert graph.locator(".graph-edge-hit").count() == edges.count()
    hit.hover(force=True)
    shoot(page, "job-graph-edge-type")
