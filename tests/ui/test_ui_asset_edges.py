"""The asset graph's edges show the partition mapping their dependency names, on hover (an
SVG title on the edge and on its wider hover target), as the job graph's edges show the
type they carry; AssetNode.dependencies gives them to the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, running_ui, shoot

MAPPED_FILE = Path(__file__).resolve().parent / "ui_asset_mappings.py"
ROLLING = "the upstream time windows offset -1 to 0"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    with running_ui(tmp_path_factory, redis_url, {"mapped": MAPPED_FILE}) as instance:
        yield instance


def test_asset_dependencies_carry_their_partition_mapping(ui: UiInstance):
    nodes = ui.gql(
        """{ assetNodes { assetKey { path } dependencies { assetKey { path }
             partitionMapping { className description } } } }"""
    )["assetNodes"]
    deps = {n["assetKey"]["path"][-1]: n["dependencies"] for n in nodes}
    assert deps["rolling_events"] == [
        {
            "assetKey": {"path": ["daily_events"]},
            "partitionMapping": {"className": "TimeWindowPartitionMapping", "description": ROLLING},
        }
    ]
    assert deps["same_day_events"] == [
        {"assetKey": {"path": ["daily_events"]}, "partitionMapping": None}
    ]
    assert deps["latest_events"][0]["partitionMapping"] == {
        "className": "LastPartitionMapping",
        "description": "the last upstream partition",
    }
    assert deps["daily_events"] == []


def test_asset_graph_edges_show_the_partition_mapping(ui: UiInstance, page: Any):
    open_page(page, ui.url + "/assets")
    page.wait_for_selector("#asset-graph svg .graph-node[data-node='mapped.rolling_events']")
    graph = page.locator("#asset-graph svg")
    edge = graph.locator(
        ".graph-edge[data-from='mapped.daily_events'][data-to='mapped.rolling_events']"
    )
    assert edge.count() == 1
    label = f"TimeWindowPartitionMapping: {ROLLING}"
    assert edge.get_attribute("data-type") == label
    assert (
        edge.locator("title").text_content()
        == f"mapped.daily_events → mapped.rolling_events\n{label}"
    )
    hit = graph.locator(
        ".graph-edge-hit[aria-label^='mapped.daily_events → mapped.rolling_events']"
    )
    assert hit.count() == 1
    last = graph.locator(".graph-edge[data-to='mapped.latest_events']")
    assert last.get_attribute("data-type") == "LastPartitionMapping: the last upstream partition"
    # A dependency that names no mapping: an edge without a label or hover target.
    plain = graph.locator(".graph-edge[data-to='mapped.same_day_events']")
    assert plain.count() == 1
    assert plain.get_attribute("data-type") is None
    assert plain.locator("title").count() == 0
    assert (
        graph.locator(
            ".graph-edge-hit[aria-label^='mapped.daily_events → mapped.same_day']"
        ).count()
        == 0
    )
    hit.hover(force=True)
    shoot(page, "asset-graph-edge-mapping")


def test_asset_graph_group_frames_do_not_overlap(ui: UiInstance, page: Any):
    """Each group's frame, with the name at its head, is clear of every other group's frame
    (dagre keeps frames that share a rank apart by edgesep only, which once let the `mapped`
    frame cover the `clean` group's name)."""
    open_page(page, ui.url + "/assets")
    page.wait_for_selector("#asset-graph svg .graph-group[data-group='clean'] rect")
    boxes = page.locator("#asset-graph svg .graph-group").evaluate_all(
        """gs => gs.map(g => { const r = g.querySelector('rect');
             return [g.dataset.group, ...['x', 'y', 'width', 'height'].map(
               a => Number(r.getAttribute(a)))]; })"""
    )
    assert sorted(b[0] for b in boxes) == ["clean", "mapped", "raw"]
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1 :]:
            apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
            assert apart, f"the frames of {a} and {b} overlap"
