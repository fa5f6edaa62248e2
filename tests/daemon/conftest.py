"""Fixtures for daemon tests: an instance (SQLite or PostgreSQL) with a queued run
coordinator and the in-memory launcher, and a workspace of one in-process location."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_env import IN_MEMORY_LAUNCHER, JOBS, DaemonEnv, MakeEnv

from opgraph.instance import OpgraphInstance
from opgraph.workspace import load_workspace


@pytest.fixture
def make_env(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeEnv]:
    made: list[DaemonEnv] = []

    def make(**sections: Any) -> DaemonEnv:
        home = tmp_path / f"home{len(made)}"
        home.mkdir()
        jobs = tmp_path / "jobs.py"
        jobs.write_text(textwrap.dedent(JOBS))
        files = tmp_path / "files"
        files.mkdir(exist_ok=True)
        monkeypatch.setenv("DAEMON_TEST_DIR", str(files))
        config = {
            "storage": {"url": storage_url},
            "run_coordinator": {"queued": {"max_concurrent_runs": 3}},
            "run_launcher": IN_MEMORY_LAUNCHER,
            **sections,
        }
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        (home / "workspace.yaml").write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {"python_file": {"relative_path": str(jobs), "location_name": "loc"}}
                    ]
                }
            )
        )
        instance = OpgraphInstance.get(home)
        workspace = load_workspace(None, home, in_process=True)
        env = DaemonEnv(home, instance, workspace, files)
        made.append(env)
        return env

    yield make
    for env in made:
        env.workspace.close()
        env.instance.dispose()


@pytest.fixture
def env(make_env: MakeEnv) -> DaemonEnv:
    return make_env()
