"""Dagster compatibility of declarative automation: a project written as for Dagster
(tests/compat/jobs/automation_assets.py) imports, its conditions carry Dagster's labels and
structure, travel in the asset snapshots and are evaluated by the AUTOMATION part."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import yaml

from opgraph.automation.condition import condition_from_json
from opgraph.automation.daemon import AutomationDaemon
from opgraph.instance import OpgraphInstance
from tests.conftest import IN_MEMORY_LAUNCHER

PROJECT = Path(__file__).resolve().parent / "jobs" / "automation_assets.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("automation_assets", PROJECT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_builders_are_dagsters() -> None:
    from opgraph import AutomationCondition

    eager = AutomationCondition.eager()
    # Dagster: in_latest_time_window & (newly_missing | any_deps_updated).since_last_handled()
    #   & ~any_deps_missing & ~any_deps_in_progress & ~in_progress, labeled "eager".
    assert eager.get_label() == "eager"
    assert [c.name for c in eager.children] == [
        "in_latest_time_window",
        "SINCE",
        "NOT",
        "NOT",
        "NOT",
    ]
    assert [c.children[0].get_label() for c in eager.children[2:]] == [
        "any_deps_missing",
        "any_deps_in_progress",
        "in_progress",
    ]
    on_cron = AutomationCondition.on_cron("0 9 * * 1-5", "America/New_York")
    assert on_cron.get_label() == "on_cron(0 9 * * 1-5, America/New_York)"
    assert on_cron.children[2].get_label() == (
        "all_deps_updated_since_cron(0 9 * * 1-5, America/New_York)"
    )
    on_missing = AutomationCondition.on_missing()
    assert on_missing.get_label() == "on_missing"
    assert on_missing.children[1].get_label() == "missing_since_last_handled"


def test_a_dagster_project_loads_and_its_conditions_are_evaluated(tmp_path: Path) -> None:
    from opgraph.workspace import load_workspace

    module = _load()
    graph = module.defs.asset_repo.graph
    conditions = {
        key.to_user_string(): graph.attributes(key).automation_condition for key in graph.all_keys
    }
    assert conditions["raw_orders"] is None and conditions["right"] is None
    assert conditions["left"].get_label() == "eager"
    assert conditions["model"].get_label() == "new_code"

    home = tmp_path / "home"
    home.mkdir()
    config = {"storage": {"url": str(tmp_path / "opgraph.db")}, "run_launcher": IN_MEMORY_LAUNCHER}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": str(PROJECT), "location_name": "compat"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    try:
        nodes = {"/".join(n["key"]): n for n in workspace.get("compat").asset_nodes()}
        for key, condition in conditions.items():
            data = nodes[key]["automation_condition"]
            assert (data is None) == (condition is None), key
            if condition is not None:
                assert condition_from_json(data) == condition
        part = AutomationDaemon(instance, workspace)
        now = time.time()
        for offset in (0, 60):
            report = part.tick(now + offset)
            assert report.errors == [], report.errors
        assert report.info["assets_evaluated"] == 6  # every asset with a condition
        for key in ("orders", "weekday_report", "daily_events", "model", "retried_daily", "left"):
            [newest] = instance.storage.get_automation_evaluations(key, limit=1)
            assert newest.data["condition"]["name"] == "AND", key
            assert newest.data["reason"].startswith(("requested", "not requested")), key
    finally:
        workspace.close()
        instance.dispose()
