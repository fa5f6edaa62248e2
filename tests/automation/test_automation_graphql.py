"""An asset's automation condition and evaluations over GraphQL, on a real webserver
(gunicorn) and PostgreSQL, evaluated by the AUTOMATION part against the same storage."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from opgraph.automation.daemon import AutomationDaemon
from opgraph.instance import OpgraphInstance
from tests.web_server import Webserver, make_home

ASSETS = """
from opgraph import AutomationCondition, Definitions, asset


@asset
def up():
    return 1


@asset(automation_condition=AutomationCondition.on_cron("0 * * * *"))
def down(up):
    return up + 1


defs = Definitions(assets=[up, down])
"""
NODES = """query($limit: Int!) { assetNodes { assetKey { path }
  automationCondition { label name }
  automationEvaluations(limit: $limit) { id evaluationId numRequested reason condition } } }"""


@pytest.mark.postgres
def test_evaluations_of_an_asset(tmp_path: Path, pg_storage_url: str) -> None:
    from opgraph.workspace import load_workspace

    home = make_home(tmp_path, pg_storage_url)
    project = tmp_path / "code" / "assets.py"
    project.write_text(ASSETS)
    location = {"python_file": {"relative_path": str(project), "location_name": "auto"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    server = Webserver(home)
    try:
        part = AutomationDaemon(instance, workspace)
        now = time.time()
        part.tick(now)
        part.tick(now + 1)
        part.tick(now + 2)
        nodes = server.gql(NODES, {"limit": 5})["assetNodes"]
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert by_key["up"]["automationCondition"] is None
        assert by_key["up"]["automationEvaluations"] == []
        down = by_key["down"]
        assert down["automationCondition"] == {"label": "on_cron(0 * * * *, UTC)", "name": "AND"}
        # Stored on the first evaluation and when what was true changed (the second: no
        # longer the initial evaluation); the third changed nothing, so it is not stored.
        second, first = down["automationEvaluations"]
        assert (second["evaluationId"], first["evaluationId"]) == (2, 1)
        assert first["numRequested"] == 0
        assert first["reason"].startswith("not requested")
        assert first["condition"]["label"] == "on_cron(0 * * * *, UTC)"
        refused = server.request(
            "/graphql",
            json.dumps({"query": NODES, "variables": {"limit": 501}}).encode(),
            {"Content-Type": "application/json"},
        )
        assert b"limit: expected 1 to 500, given 501" in refused[2]
    finally:
        server.stop()
        workspace.close()
        instance.dispose()
