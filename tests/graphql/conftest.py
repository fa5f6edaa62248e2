from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_server import Webserver, make_home


@pytest.fixture
def pg_home(tmp_path: Path, pg_storage_url: str) -> Path:
    return make_home(tmp_path, pg_storage_url)


@pytest.fixture
def fail_marker(tmp_path: Path) -> Path:
    """While this file exists the `flaky` op of the test jobs fails."""
    return tmp_path / "fail-marker"


@pytest.fixture
def webserver(pg_home: Path, fail_marker: Path) -> Iterator[Webserver]:
    server = Webserver(pg_home, env={"OPGRAPH_TEST_FAIL_MARKER": str(fail_marker)})
    yield server
    server.stop()
