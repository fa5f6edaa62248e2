"""Plugins are found through entry points: a package that is not opgraph adds a run launcher,
an instance.yaml section and a daemon part without the core naming it."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from opgraph import plugins
from opgraph.daemon import build_parts
from opgraph.errors import InstanceConfigError
from opgraph.executors.definitions import multi_or_in_process_config
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import component_plugins, instance_config_model
from opgraph.ports import RunLauncher
from tests.plugin_example import ExamplePart, ZoneLauncher

EXAMPLE = "tests.plugin_example"
FAKE = [
    importlib.metadata.EntryPoint("zone", f"{EXAMPLE}:ZONE_LAUNCHER", plugins.RUN_LAUNCHERS),
    importlib.metadata.EntryPoint("broken", f"{EXAMPLE}:BROKEN_LAUNCHER", plugins.RUN_LAUNCHERS),
    importlib.metadata.EntryPoint(
        "example", f"{EXAMPLE}:ExampleSection", plugins.INSTANCE_SECTIONS
    ),
    importlib.metadata.EntryPoint("example", f"{EXAMPLE}:build_part", plugins.DAEMON_PARTS),
]


def _clear_caches() -> None:
    for cached in (plugins._group, plugins.load_all, instance_config_model):
        cached.cache_clear()
    multi_or_in_process_config.cache_clear()


@pytest.fixture
def example_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    installed = importlib.metadata.entry_points

    def entry_points(**select: str) -> importlib.metadata.EntryPoints:
        extra = [ep for ep in FAKE if ep.group == select.get("group")]
        return importlib.metadata.EntryPoints([*installed(**select), *extra])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    _clear_caches()
    yield
    monkeypatch.undo()
    _clear_caches()


def write(home: Path, text: str) -> None:
    (home / "instance.yaml").write_text(text)


def test_the_installed_plugins_provide_the_short_names():
    assert set(component_plugins("run_launcher")) >= {"subprocess", "celery"}
    assert set(component_plugins("run_coordinator")) >= {"immediate", "queued"}
    assert "celery" in instance_config_model().model_fields  # opgraph_celery's own section
    assert "celery" in multi_or_in_process_config().model_fields  # and its executor


def test_a_third_party_launcher_section_and_daemon_part(example_plugin, tmp_path):
    write(
        tmp_path,
        "run_launcher: {zone: {zone: us}}\nexample: {endpoint: http://collector}\n",
    )
    instance = OpgraphInstance.get(tmp_path)
    launcher = instance.run_launcher
    assert isinstance(launcher, ZoneLauncher) and isinstance(launcher, RunLauncher)
    assert launcher.zone == "us"
    parts = build_parts(instance, None, "d1")
    [part] = [p for p in parts if isinstance(p, ExamplePart)]
    assert part.tick(0).info == {"endpoint": "http://collector"}
    instance.dispose()


def test_a_plugins_options_and_section_are_checked_like_ours(example_plugin, tmp_path):
    write(tmp_path, "run_launcher:\n  zone:\n    zones: us\nexample:\n  endpont: x\n")
    with pytest.raises(InstanceConfigError) as info:
        OpgraphInstance.get(tmp_path)
    message = str(info.value)
    assert ":3: unknown key run_launcher.zone.zones; allowed keys: zone" in message
    assert ":5: unknown key example.endpont; allowed keys: endpoint" in message


def test_an_unknown_short_name_lists_the_plugins(example_plugin, tmp_path):
    write(tmp_path, "run_launcher: kubernetes\n")
    with pytest.raises(InstanceConfigError) as info:
        OpgraphInstance.get(tmp_path)
    assert "expected one of broken, celery, subprocess, zone, or {module, class" in str(info.value)


def test_a_class_that_is_not_a_run_launcher_is_refused(example_plugin, tmp_path):
    write(tmp_path, "run_launcher: broken\n")
    instance = OpgraphInstance.get(tmp_path)
    with pytest.raises(
        InstanceConfigError, match=r"NotALauncher named in instance.yaml is not a RunLauncher"
    ):
        _ = instance.run_launcher
