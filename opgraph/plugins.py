"""Plugins: what other installed packages add to opgraph, found through entry points.

A package adds run launchers, run coordinators, executors, instance.yaml sections, daemon
parts or step terminators by naming them under these groups in its packaging metadata
(setup.cfg `[options.entry_points]`), the way Dagster finds `dagster-celery`:

    [options.entry_points]
    opgraph.run_launchers =
        k8s = my_package.plugin:K8S_LAUNCHER

The entry point's name is the short name users write (`run_launcher: k8s`). The core reads
the groups and never names a plugin; only the objects an entry point names are imported,
so a plugin keeps its entry-point module light (config models, no Celery import).

| group | an entry point names |
| --- | --- |
| `opgraph.run_launchers`, `opgraph.run_coordinators` | a `ComponentPlugin` |
| `opgraph.executors` | an `ExecutorDefinition` (a key under `multi_or_in_process` too) |
| `opgraph.instance_sections` | the pydantic model of a top-level instance.yaml section |
| `opgraph.daemon_parts` | `build(instance) -> DaemonPart | None` (None: nothing to do here) |
| `opgraph.step_terminators` | `build(instance) -> StepTerminator` |
| `opgraph.services` | a module run as `python -m` (e.g. `code_server`) |
| `opgraph.worker_fleets` | `build(instance) -> WorkerFleet` (GraphQL and the UI) |
| `opgraph.metrics` | `build(instance) -> MetricsSource` (the webserver's `/metrics`) |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from opgraph.errors import OpgraphError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

RUN_LAUNCHERS = "opgraph.run_launchers"
RUN_COORDINATORS = "opgraph.run_coordinators"
EXECUTORS = "opgraph.executors"
INSTANCE_SECTIONS = "opgraph.instance_sections"
DAEMON_PARTS = "opgraph.daemon_parts"
STEP_TERMINATORS = "opgraph.step_terminators"
SERVICES = "opgraph.services"
WORKER_FLEETS = "opgraph.worker_fleets"
METRICS = "opgraph.metrics"


class PluginError(OpgraphError):
    """An entry point could not be loaded, or names something of the wrong kind."""


@dataclass(frozen=True)
class ComponentPlugin:
    """A run launcher or run coordinator: its class by module and name (imported only when
    the instance builds it) and the model of its options in instance.yaml. `default`: the
    one used when instance.yaml names none (exactly one per group)."""

    module: str
    class_name: str
    config_model: type[BaseModel]
    default: bool = False


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # ~10 ms: only when a plugin is looked up

    # Sorted by name: the order of sections, parts and error messages does not depend on
    # the order packages were installed in.
    return {ep.name: ep for ep in sorted(entry_points(group=group), key=lambda ep: ep.name)}


def names(group: str) -> list[str]:
    return list(_group(group))


def load(group: str, name: str) -> Any:
    """What entry point `name` of `group` names; PluginError if none or it fails to load."""
    entry = _group(group).get(name)
    if entry is None:
        raise PluginError(f"no {group} plugin named {name!r}; installed: {', '.join(names(group))}")
    try:
        return entry.load()
    except Exception as exc:
        raise PluginError(
            f"cannot load {group} plugin {name!r} ({entry.value}): {type(exc).__name__}: {exc}"
        ) from exc


@cache
def load_all(group: str) -> dict[str, Any]:
    """Every entry point of `group`, loaded, by name."""
    return {name: load(group, name) for name in _group(group)}


def components(group: str) -> dict[str, ComponentPlugin]:
    loaded = load_all(group)
    for name, value in loaded.items():
        if not isinstance(value, ComponentPlugin):
            raise PluginError(
                f"{group} plugin {name!r} names a {type(value).__name__}, "
                "expected an opgraph.plugins.ComponentPlugin"
            )
    return loaded


def service_module(name: str) -> str:
    """The module a service entry point names, to run as `python -m` (not imported here)."""
    entry = _group(SERVICES).get(name)
    if entry is None:
        raise PluginError(f"no {SERVICES} entry point named {name!r}: is opgraph installed?")
    return entry.module
