"""Fixtures for code location tests: job files written into tmp_path, so tests can edit them."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workspace_code import JOBS

from opgraph.instance import OpgraphInstance


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write(relative_path, source) -> absolute path; bumps mtime so edits are seen."""

    def write(relative: str, source: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        stamp = time.time() + 1  # bytecode caches (.pyc, keyed on mtime and size) see each edit
        os.utime(path, (stamp, stamp))
        return path

    return write


@pytest.fixture
def jobs_file(write: Callable[[str, str], Path]) -> Path:
    return write("jobs.py", JOBS)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def sqlite_instance(home: Path) -> Iterator[OpgraphInstance]:
    instance = OpgraphInstance.get(home)
    yield instance
    instance.dispose()
