"""Browser tests of the web UI: headless Chromium (Debian's `chromium`, installed by
.ci/run) driven by Playwright, against a real webserver process on PostgreSQL.

Each test module gets its own database, home (instance.yaml with the Celery broker) and
gunicorn webserver; `fleet` adds real Celery workers. `page` fails the test on any
uncaught script error, and `shoot(page, name)` saves a screenshot under
tests/ui/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.web_server import Webserver

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
JOBS_FILE = Path(__file__).resolve().parent / "ui_jobs.py"
BROKEN_FILE = Path(__file__).resolve().parent / "broken_location.py"
ASSETS_FILE = Path(__file__).resolve().parent / "ui_assets.py"
LOCATION = "ui"
VIEWPORT = {"width": 1440, "height": 900}  # a laptop screen


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab; uncaught script errors fail the test.

    Errors the UI shows on purpose (console.error from a notice) are in
    `page.console_errors` for tests to check."""
    # Without the page's Content-Security-Policy: Playwright's waits evaluate strings, and
    # the escaping tests must prove that nothing shown can run, without CSP's help.
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    script_errors: list[str] = []
    tab.console_errors = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    tab.on(
        "console",
        lambda message: (
            tab.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    yield tab
    context.close()
    assert not script_errors, f"uncaught script errors: {script_errors}"


def shoot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(page: Any, url: str) -> float:
    """Go to `url` and wait until its main data is shown; returns the ms that took
    (navigation start to the page's ready mark)."""
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    return float(page.evaluate("window.opgraphReadyMs"))


@dataclass
class UiInstance:
    home: Path
    storage_url: str
    broker_url: str
    queue: str
    servers: list[Webserver] = field(default_factory=list)
    _storage: Any = None

    @property
    def server(self) -> Webserver:
        return self.servers[0]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from opgraph_storage import create_storage

            self._storage = create_storage(self.storage_url)
        return self._storage

    def start_server(self, read_only: bool = False) -> Webserver:
        factory = (
            "opgraph_app:create_app(read_only=True)" if read_only else "opgraph_app:create_app()"
        )
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            factory,
            "--bind",
            "127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--threads",
            "16",
        ]
        server = Webserver(self.home, command=command)
        self.servers.append(server)
        return server

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.server.gql(query, variables)

    def launch(
        self, job: str, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None
    ) -> str:
        answer = self.gql(
            """mutation($job: String!, $config: GenericScalar, $tags: [TagInput!]) {
              launchRun(executionParams: {selector: {locationName: "ui", jobName: $job},
                runConfigData: $config, executionMetadata: {tags: $tags}}) {
                __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }""",
            {
                "job": job,
                "config": run_config or {},
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            },
        )["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        return str(answer["run"]["runId"])

    def status(self, run_id: str) -> str:
        query = "query($id: String!) { runOrError(runId: $id) { ... on Run { status } } }"
        return str(self.gql(query, {"id": run_id})["runOrError"]["status"])

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self._storage is not None:
            self._storage.dispose()


def make_ui_home(
    base: Path,
    storage_url: str,
    broker_url: str,
    queue: str,
    extra_locations: dict[str, Path] | None = None,
) -> Path:
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "storage": {"url": storage_url},
        "run_launcher": "subprocess",
        "celery": {"broker_url": broker_url, "backend_url": broker_url, "default_queue": queue},
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    workspace = {
        "load_from": [
            {"python_file": {"relative_path": str(JOBS_FILE), "location_name": LOCATION}},
            {"python_file": {"relative_path": str(BROKEN_FILE), "location_name": "broken"}},
            {"python_file": {"relative_path": str(ASSETS_FILE), "location_name": "assets"}},
            *(
                {"python_file": {"relative_path": str(path), "location_name": name}}
                for name, path in (extra_locations or {}).items()
            ),
        ]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return home


@contextmanager
def running_ui(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    extra_locations: dict[str, Path] | None = None,
) -> Iterator[UiInstance]:
    """A webserver on its own PostgreSQL database (with `extra_locations`, name -> file)."""
    from tests.conftest import _create_database, _drop_database

    database = _create_database("opgraph_ui")
    queue = f"opgraph-ui-{uuid.uuid4().hex[:8]}"
    base = tmp_path_factory.mktemp("ui")
    home = make_ui_home(base, database, redis_url, queue, extra_locations)
    instance = UiInstance(home, database, redis_url, queue)
    try:
        _ = instance.storage  # the schema exists before the webserver starts
        instance.start_server()
        yield instance
    finally:
        instance.close()
        _drop_database(database)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    """A webserver on its own PostgreSQL database, for the tests of one module."""
    with running_ui(tmp_path_factory, redis_url) as instance:
        yield instance


@pytest.fixture(scope="module")
def fleet(ui: UiInstance) -> Iterator[Any]:
    """Real Celery workers of the `ui` instance (start them with fleet.start(name))."""
    from opgraph_celery.celery_app import instance_celery_config, make_celery_app
    from opgraph_celery.local_workers import LocalWorkers

    app = make_celery_app(instance_celery_config(ui.home))
    workers = LocalWorkers(ui.home, app, ui.queue, name_suffix=ui.queue.rsplit("-", 1)[-1])
    try:
        yield workers
    finally:
        workers.stop_all()


def set_config(page: Any, text: str) -> None:
    """Replace the launchpad's run config (its code editor, once loaded, or text area)."""
    page.wait_for_function("window.opgraphLaunchpad !== undefined")
    page.evaluate("text => window.opgraphLaunchpad.setText(text)", text)
