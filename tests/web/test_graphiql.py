"""GraphiQL at GET /graphql: the project's own files, the UI's CSP, no reflected query.

The browser test runs offline (every request off this webserver is aborted and recorded)
and with the page's Content-Security-Policy enforced.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph_app.graphiql_page import GRAPHIQL_CONTENT_SECURITY_POLICY
from opgraph_app.ui.views import CONTENT_SECURITY_POLICY
from tests.web_server import Webserver, make_home

HOSTILE = '</script><script>alert("x")</script>{ instance { readOnly } }'
QUERY = "{ instance { readOnly hasAuthToken } }"


@pytest.fixture
def server(tmp_path: Path, pg_storage_url: str) -> Iterator[Webserver]:
    # The real default server: `opgraph webserver` (its gevent worker), not a test gunicorn.
    command = [sys.executable, "-m", "opgraph_app", "webserver", "--host", "127.0.0.1"]
    started = Webserver(make_home(tmp_path, pg_storage_url), [*command, "--port", "{port}"])
    yield started
    started.stop()


def test_graphiql_page_is_self_hosted_and_reflects_nothing(server: Webserver):
    path = "/graphql?query=" + urllib.parse.quote(HOSTILE)
    status, headers, body = server.request(path, headers={"Accept": "text/html"})

    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert policy == GRAPHIQL_CONTENT_SECURITY_POLICY and policy.startswith(CONTENT_SECURITY_POLICY)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    html = body.decode()
    assert "alert" not in html and "instance" not in html  # the query is not in the page
    assert "<script>" not in html  # no inline script: every script has a src
    assert "unpkg" not in html and "cdn" not in html.lower() and "https://" not in html
    for asset in ("react.production.min.js", "graphiql.min.js", "graphiql.min.css"):
        status, _, data = server.request(f"/static/vendor/graphiql/{asset}")
        assert status == 200 and len(data) > 10_000, asset


def test_graphiql_renders_and_runs_a_query_offline(server: Webserver, browser: Any):
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # CSP enforced
    page = context.new_page()
    page.set_default_timeout(30_000)
    offline: list[str] = []
    problems: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            offline.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_this_server)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    try:
        page.goto(f"{server.url}/graphql?query={urllib.parse.quote(QUERY)}")
        page.locator(".graphiql-container").wait_for()
        page.locator(".graphiql-execute-button").click()
        result = page.locator(".result-window")
        result.get_by_text('"hasAuthToken": false').wait_for()
        assert '"readOnly": false' in result.inner_text()
        assert not offline, f"GraphiQL reached beyond the webserver: {offline}"
        assert not problems, [problem[:300] for problem in problems]
    finally:
        context.close()
