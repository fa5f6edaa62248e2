"""A third-party plugin, as a package of its own would ship it (tests/test_plugins.py
registers these objects as entry points)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.plugins import ComponentPlugin
from opgraph.ports import RunLauncher
from opgraph_storage.records import RunRecord


class ZoneLauncherConfig(BaseModel):
    """Launches nothing; remembers its zone."""

    model_config = ConfigDict(extra="forbid")
    zone: str = Field("eu", description="Where run workers would start.")


class ZoneLauncher(RunLauncher):
    def __init__(self, instance: Any, zone: str = "eu"):
        self.instance = instance
        self.zone = zone

    def launch_run(self, run: RunRecord) -> RunRecord:
        return run


class NotALauncher:
    def __init__(self, instance: Any, zone: str = "eu"):
        self.instance = instance


class ExampleSection(BaseModel):
    """The example plugin's own instance.yaml section."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field("http://localhost", description="Where it reports to.")


class ExamplePart(DaemonPart):
    name = "EXAMPLE_PART"

    def __init__(self, instance: Any):
        self.section = instance.config.section("example", ExampleSection)

    def tick(self, now: float) -> TickReport:
        return TickReport(info={"endpoint": self.section.endpoint})


def build_part(instance: Any) -> DaemonPart:
    return ExamplePart(instance)


ZONE_LAUNCHER = ComponentPlugin(__name__, "ZoneLauncher", ZoneLauncherConfig)
BROKEN_LAUNCHER = ComponentPlugin(__name__, "NotALauncher", ZoneLauncherConfig)
