"""@asset_sensor and @multi_asset_sensor: sensors that fire on new materializations.

They read the asset catalog's per-key event index (never scan the event log); the cursor
is the storage id of the last materialization seen (per key, as JSON, for multi-asset
sensors), so a tick sees each materialization once."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.assets.run_results import AssetMaterializationRecord
from opgraph.errors import OpgraphError
from opgraph.schedules import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext


class AssetEventEntry:
    """A stored materialization as a sensor sees it (Dagster's EventLogEntry shape)."""

    def __init__(self, record: Any):
        self.storage_id: int = record.storage_id
        self.run_id: str = record.run_id
        self.timestamp: float = record.timestamp
        self.step_key: str | None = record.step_key
        self.asset_materialization = AssetMaterializationRecord(record.data)
        self.asset_key: AssetKey = self.asset_materialization.asset_key

    @property
    def dagster_event(self) -> AssetEventEntry:
        return self


@functools.cache
def _home_instance() -> Any:
    from opgraph.instance import OpgraphInstance

    return OpgraphInstance.get()


def sensor_instance(sensor: Any, given: Any = None) -> Any:
    """The instance an asset sensor reads: the one given, else this process's home's."""
    if given is not None or not getattr(sensor, "reads_asset_events", False):
        return given
    return _home_instance()


def _storage(context: SensorEvaluationContext, sensor_name: str) -> Any:
    if context.instance is None:
        raise OpgraphError(
            f"asset sensor {sensor_name!r} reads materializations from an instance; "
            "build its context with build_sensor_context(instance=...)"
        )
    return context.instance.storage


@dataclass(frozen=True)
class _Common:
    """The SensorDefinition arguments both asset sensor decorators pass through."""

    job: Any
    job_name: str | None
    minimum_interval_seconds: int
    description: str | None
    default_status: DefaultSensorStatus

    def kwargs(self, fn: Callable[..., Any]) -> dict[str, Any]:
        return {
            "job": self.job,
            "job_name": self.job_name,
            "minimum_interval_seconds": self.minimum_interval_seconds,
            "description": self.description or inspect.getdoc(fn),
            "default_status": self.default_status,
        }


class AssetSensorDefinition(SensorDefinition):
    reads_asset_events = True

    def __init__(self, name: str, asset_key: AssetKey, fn: Callable[..., Any], **kwargs: Any):
        self.asset_key = asset_key

        def evaluate(context: SensorEvaluationContext) -> Any:
            storage = _storage(context, name)
            after = int(context.cursor) if context.cursor else 0
            [latest, *_] = storage.get_asset_events(asset_key.to_user_string(), limit=1) or [None]
            if latest is None or latest.storage_id <= after:
                return None
            context.update_cursor(str(latest.storage_id))
            return fn(context, AssetEventEntry(latest))

        super().__init__(name, evaluate, **kwargs)


def asset_sensor(
    asset_key: Any,
    *,
    job: Any = None,
    job_name: str | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    description: str | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> Callable[[Callable[..., Any]], AssetSensorDefinition]:
    """Dagster's `@asset_sensor`: `fn(context, asset_event)` for the newest materialization
    of `asset_key` since the last tick."""
    key = to_asset_key(asset_key)
    common = _Common(job, job_name, minimum_interval_seconds, description, default_status)

    def decorator(fn: Callable[..., Any]) -> AssetSensorDefinition:
        return AssetSensorDefinition(name or fn.__name__, key, fn, **common.kwargs(fn))

    return decorator


class MultiAssetSensorEvaluationContext:
    """The context of a multi-asset sensor: newest materializations per key since its
    cursor, and cursor moves."""

    def __init__(self, context: SensorEvaluationContext, keys: list[AssetKey], name: str):
        self._context = context
        self._storage = _storage(context, name)
        self.monitored_asset_keys = keys
        self._cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        self.instance = context.instance

    @property
    def cursor(self) -> str | None:
        return self._context.cursor

    def latest_materialization_records_by_key(
        self, asset_keys: Iterable[AssetKey] | None = None
    ) -> dict[AssetKey, AssetEventEntry | None]:
        found: dict[AssetKey, AssetEventEntry | None] = {}
        for key in asset_keys or self.monitored_asset_keys:
            text = key.to_user_string()
            events = self._storage.get_asset_events(text, limit=1)
            newest = events[0] if events else None
            seen = self._cursor.get(text, 0)
            found[key] = AssetEventEntry(newest) if newest and newest.storage_id > seen else None
        return found

    def advance_cursor(self, materialization_records_by_key: dict[AssetKey, Any]) -> None:
        for key, record in materialization_records_by_key.items():
            if record is not None:
                self._cursor[key.to_user_string()] = record.storage_id
        self._context.update_cursor(json.dumps(self._cursor, sort_keys=True))

    def advance_all_cursors(self) -> None:
        self.advance_cursor(self.latest_materialization_records_by_key())


class MultiAssetSensorDefinition(SensorDefinition):
    reads_asset_events = True


def multi_asset_sensor(
    monitored_assets: Iterable[Any],
    *,
    job: Any = None,
    job_name: str | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    description: str | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> Callable[[Callable[..., Any]], MultiAssetSensorDefinition]:
    """Dagster's `@multi_asset_sensor(monitored_assets=[...])`: `fn(context)` with a
    MultiAssetSensorEvaluationContext."""
    keys = [to_asset_key(k) for k in monitored_assets]
    common = _Common(job, job_name, minimum_interval_seconds, description, default_status)

    def decorator(fn: Callable[..., Any]) -> MultiAssetSensorDefinition:
        sensor_name = name or fn.__name__

        def evaluate(context: SensorEvaluationContext) -> Any:
            return fn(MultiAssetSensorEvaluationContext(context, keys, sensor_name))

        return MultiAssetSensorDefinition(sensor_name, evaluate, **common.kwargs(fn))

    return decorator
