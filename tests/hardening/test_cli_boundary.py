"""The CLI is a boundary too (issue #13): `opgraph runs launch -c` reads run config with the
instance's `webserver.limits.run_config`, and `--tag` refuses system tags, before a run
exists; and `webserver.limits.max_query_cost` in instance.yaml is the budget a webserver
applies. Real `opgraph` processes over PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opgraph_storage import create_storage
from tests.hardening.test_data_bounds import alias_bomb
from tests.web_server import OPGRAPH_WEBSERVER, ROOT, Webserver, make_home


def _opgraph(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPGRAPH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "opgraph_app", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _runs(url: str) -> int:
    storage = create_storage(url)
    try:
        return storage.get_runs_count()
    finally:
        storage.dispose()


def test_launch_refuses_an_alias_bomb_and_system_tags(tmp_path: Path, pg_storage_url: str):
    limits = {"limits": {"run_config": {"max_nodes": 5000}}}
    home = make_home(tmp_path, pg_storage_url, webserver=limits)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(9))

    refused = _opgraph(home, "runs", "launch", "numbers", "-c", str(bomb))
    assert refused.returncode == 2, refused
    assert "the number of values (aliases expanded)" in refused.stderr, refused.stderr
    assert "the limit is 5000" in refused.stderr  # the instance's setting, not the default

    forged = _opgraph(home, "runs", "launch", "numbers", "--tag", "opgraph/schedule_name=x")
    assert forged.returncode == 2, forged
    assert "opgraph/schedule_name" in forged.stderr and "set by the platform" in forged.stderr
    assert _runs(pg_storage_url) == 0


def test_the_query_cost_budget_comes_from_instance_yaml(tmp_path: Path, pg_storage_url: str):
    home = make_home(tmp_path, pg_storage_url, webserver={"limits": {"max_query_cost": 60}})
    server = Webserver(home, command=OPGRAPH_WEBSERVER)
    try:
        query = "{ runsOrError(limit: 25) { ... on Runs { results { runId } } } }"
        assert server.gql(query)["runsOrError"]["results"] == []  # costs 50
        body = json.dumps({"query": query.replace("25", "50")}).encode()  # costs 100
        status, _, data = server.request("/graphql", body, {"Content-Type": "application/json"})
        error = json.loads(data)["errors"][0]
        assert status == 200 and error["extensions"]["maximum"] == 60, error
        assert error["extensions"]["setting"] == "webserver.limits.max_query_cost"
    finally:
        server.stop()
