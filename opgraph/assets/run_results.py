"""The asset accessors of a run's result (Dagster's ExecuteInProcessResult): every
in-process run has them, an op job's too, since an op may log asset events itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey, to_asset_key
from opgraph.assets.specs import AssetCheckSeverity
from opgraph.errors import OpgraphError
from opgraph.events import EventType, RunEvent
from opgraph.metadata import MetadataValue


class StoredMetadataValue(MetadataValue):
    """A metadata value read back from the event log. Dagster gives typed values
    (`metadata["rows"].value`); opgraph gave the plain value before, so a stored value
    also equals its plain value (`metadata["rows"] == 3`)."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetadataValue):
            return (self.type, self.value) == (other.type, other.value)
        return bool(self.value == other)

    def __hash__(self) -> int:
        return hash((self.type, repr(self.value)))


def metadata_from_json(data: Mapping[str, Any] | None) -> dict[str, StoredMetadataValue]:
    """Stored metadata as typed values; plain values get Dagster's inferred types."""
    out: dict[str, StoredMetadataValue] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict) and set(value) == {"type", "value"}:  # metadata_to_json's tag
            out[key] = StoredMetadataValue(value["type"], value["value"])
        elif isinstance(value, bool):
            out[key] = StoredMetadataValue("bool", value)
        elif isinstance(value, int):
            out[key] = StoredMetadataValue("int", value)
        elif isinstance(value, float):
            out[key] = StoredMetadataValue("float", value)
        elif isinstance(value, str):
            out[key] = StoredMetadataValue("text", value)
        elif value is None:
            out[key] = StoredMetadataValue("null", None)
        else:
            out[key] = StoredMetadataValue("json", value)
    return out


class AssetMaterializationRecord:
    """An ASSET_MATERIALIZATION (or observation) event's payload, shaped like Dagster's
    AssetMaterialization."""

    def __init__(self, data: Mapping[str, Any]):
        self.asset_key = AssetKey(data["asset_key"])
        self.metadata = metadata_from_json(data.get("metadata"))
        self.partition = data.get("partition")
        self.description = data.get("description")
        self.tags = dict(data.get("tags") or {})


class AssetCheckEvaluation:
    def __init__(self, data: Mapping[str, Any]):
        self.asset_key = AssetKey(data["asset_key"])
        self.check_name: str = data["check_name"]
        self.passed: bool = data["passed"]
        self.severity = AssetCheckSeverity(data["severity"])
        self.metadata = metadata_from_json(data.get("metadata"))
        self.description = data.get("description")
        self.blocking: bool = bool(data.get("blocking", False))

    @property
    def asset_check_key(self) -> AssetCheckKey:
        return AssetCheckKey(self.asset_key, self.check_name)


class AssetEvent(RunEvent):
    """A stored asset event with Dagster's DagsterEvent accessors (`asset_key`,
    `materialization`, `asset_observation`)."""

    __slots__ = ()

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey(self.record.data["asset_key"])

    @property
    def materialization(self) -> AssetMaterializationRecord | None:
        if self.event_type_value != EventType.ASSET_MATERIALIZATION.value:
            return None
        return AssetMaterializationRecord(self.record.data)

    @property
    def asset_observation(self) -> AssetMaterializationRecord | None:
        if self.event_type_value != EventType.ASSET_OBSERVATION.value:
            return None
        return AssetMaterializationRecord(self.record.data)


class AssetResultAccessors:
    """Mixed into ExecuteJobResult: it gives `all_events`, `job` and `output_for_node`."""

    job: Any

    @property
    def all_events(self) -> list[RunEvent]:
        raise NotImplementedError

    def output_for_node(self, node_str: str, output_name: str = "result") -> Any:
        raise NotImplementedError

    def _asset_events(self, event_type: EventType) -> list[AssetEvent]:
        return [AssetEvent(e.record) for e in self.all_events if e.event_type is event_type]

    def get_asset_materialization_events(self) -> list[AssetEvent]:
        return self._asset_events(EventType.ASSET_MATERIALIZATION)

    def get_asset_observation_events(self) -> list[AssetEvent]:
        return self._asset_events(EventType.ASSET_OBSERVATION)

    def get_asset_check_evaluations(self) -> list[AssetCheckEvaluation]:
        return [
            AssetCheckEvaluation(e.record.data)
            for e in self._asset_events(EventType.ASSET_CHECK_EVALUATION)
        ]

    def asset_materializations_for_node(self, node_name: str) -> list[AssetMaterializationRecord]:
        return [
            AssetMaterializationRecord(e.record.data)
            for e in self.get_asset_materialization_events()
            if e.step_key and e.step_key.split(".", 1)[0].split("[", 1)[0] == node_name
        ]

    def asset_value(self, asset_key: Any) -> Any:
        key = to_asset_key(asset_key)
        layer = getattr(self.job, "asset_layer", None)
        for (handle, output), found in layer.output_keys.items() if layer else ():
            if found == key:
                return self.output_for_node(handle, output)
        raise OpgraphError(f"asset {key.to_user_string()} was not materialized in this run")
