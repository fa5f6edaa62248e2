"""Config field descriptions, given as Dagster's `Field(description=)` or in a pydantic
`Config` class (`Field(description=)`, a field docstring), are shown in the job page's
config table and in the launchpad's hover docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, set_config, shoot

DOCS_FILE = Path(__file__).resolve().parent / "ui_config_docs.py"
JOB_URL = "/jobs/docs/described"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    from tests.ui.conftest import running_ui

    with running_ui(tmp_path_factory, redis_url, {"docs": DOCS_FILE}) as instance:
        yield instance


def _descriptions(page: Any) -> dict[str, str]:
    rows = page.locator("#op-detail .config-table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.field, r.cells[3].textContent])"
    )
    return dict(rows)


def test_config_table_shows_field_descriptions(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    page.click("#job-graph .graph-node[data-node=dagster_style]")
    page.wait_for_selector("#op-detail .config-table")
    assert _descriptions(page) == {
        "count": "how many rows to read",
        "where": "where rows come from",
        "table": "the table read",
    }
    page.click("#job-graph .graph-node[data-node=pydantic_style]")
    page.wait_for_selector("#op-detail .config-table tr[data-field=label]")
    assert _descriptions(page) == {
        "rate": "learning rate per step",
        "label": "the name the results are kept under",
    }
    shoot(page, "job-config-table-descriptions")


def test_launchpad_hover_shows_field_descriptions(ui: UiInstance, page: Any):
    open_page(page, ui.url + JOB_URL)
    page.wait_for_selector("body[data-editor=codemirror] #launchpad .cm-editor")
    set_config(
        page,
        "ops:\n  dagster_style:\n    config:\n      count: 1\n"
        "  pydantic_style:\n    config:\n      label: x\n",
    )
    for key, expected in [
        ("count:", "ops.dagster_style.config.count: integer, required — how many rows to read"),
        ("label:", "ops.pydantic_style.config.label: string, required — the name the results"),
    ]:
        page.mouse.move(0, 0)
        page.wait_for_selector(".cm-schema-doc", state="detached")
        box = page.locator("#launchpad .cm-line", has_text=key).bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2)
        page.wait_for_selector(".cm-schema-doc")
        assert expected in page.inner_text(".cm-schema-doc")
    shoot(page, "launchpad-hover-description")
