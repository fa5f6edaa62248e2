"""The UI's routes without a browser: every page shell, its data and headers, its scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app
from opgraph_app.ui.assets import STATIC_DIR, page_modules

PAGES = {
    "/": "overview",
    "/runs": "runs",
    "/runs/abc-123": "run",
    "/jobs": "jobs",
    "/jobs/loc/job_a": "job",
    "/schedules": "instigators",
    "/schedules/loc/daily": "instigator",
    "/sensors": "instigators",
    "/sensors/loc/watch": "instigator",
    "/deployment": "deployment",
}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[OpgraphInstance]:
    (tmp_path / "instance.yaml").write_text(
        yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path}/db"}})
    )
    made = OpgraphInstance.get(tmp_path)
    yield made
    made.dispose()


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_is_a_shell_with_its_script(instance: OpgraphInstance, path: str):
    response = create_app(instance).test_client().get(path)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = PAGES[path]
    assert f'data-page="{page}"' in html
    assert f"/static/ui/js/pages/{page}.js?v=" in html
    assert 'data-read-only="0"' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for module in page_modules(page):  # every script it imports is preloaded and exists
        assert f'<link rel="modulepreload" href="/static/{module}">' in html
        assert (STATIC_DIR / module).is_file()


def test_route_values_are_escaped_into_the_shell(instance: OpgraphInstance):
    client = create_app(instance).test_client()

    html = client.get('/runs/"><img src=x onerror=alert(1)>').get_data(as_text=True)

    assert "<img" not in html
    assert 'data-run-id="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in html
    assert "<title>Run &#34;&gt;&lt;img src=x onerror=alert(1)&gt; · opgraph</title>" in html


def test_read_only_is_told_to_the_page(instance: OpgraphInstance):
    html = create_app(instance, read_only=True).test_client().get("/runs").get_data(as_text=True)

    assert 'data-read-only="1"' in html
    assert ">read-only</span>" in html


def test_page_modules_follow_imports_transitively():
    modules = page_modules("run")

    assert "ui/js/lib/dom.js" in modules  # imported by run.js and by its views
    assert "ui/js/views/timeline.js" in modules
    assert "ui/js/pages/run.js" not in modules  # the page's own script is not preloaded
    assert len(modules) == len(set(modules))
    assert page_modules("no-such-page") == ()
