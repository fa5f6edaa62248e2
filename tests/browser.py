"""The one headless Chromium of a test session (Debian's `chromium`, installed by .ci/run).

A plugin of the root conftest, so every test directory shares it: Playwright's sync API
allows one instance per thread, and a second `sync_playwright()` while the first is open
fails with "using Playwright Sync API inside the asyncio loop".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from tests.conftest import _unavailable

    if not CHROMIUM.exists():
        _unavailable(
            f"Chromium at {CHROMIUM}",
            FileNotFoundError("install it with `apt-get install -y chromium` (.ci/run does)"),
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
