"""The asset catalog's storage interface and records.

Asset events (materializations, observations, check evaluations) are stored like every
event; storing them also updates indexed catalog rows in the same transaction, so reading
the catalog never scans the event log. Keys are user strings (`warehouse/orders`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opgraph_storage.records import EventRecord

ASSET_MATERIALIZATION = "ASSET_MATERIALIZATION"
ASSET_OBSERVATION = "ASSET_OBSERVATION"
ASSET_CHECK_EVALUATION = "ASSET_CHECK_EVALUATION"
ASSET_EVENT_TYPES = frozenset({ASSET_MATERIALIZATION, ASSET_OBSERVATION, ASSET_CHECK_EVALUATION})


@dataclass(frozen=True)
class AssetCatalogRecord:
    """One key's row: its latest materialization and observation."""

    asset_key: str
    last_materialization_id: int | None = None
    last_materialization_at: float | None = None
    last_materialization_run_id: str | None = None
    last_materialization_data: dict[str, Any] = field(default_factory=dict)
    last_observation_id: int | None = None
    last_observation_at: float | None = None
    materialization_count: int = 0


@dataclass(frozen=True)
class AssetCheckExecutionRecord:
    event_id: int
    asset_key: str
    check_name: str
    run_id: str
    timestamp: float
    passed: bool
    severity: str
    data: dict[str, Any] = field(default_factory=dict)


class AssetCatalogStorage(ABC):
    @abstractmethod
    def get_asset_records(
        self,
        asset_keys: Sequence[str] | None = None,
        prefix: str | None = None,
        after_key: str | None = None,
        limit: int | None = None,
    ) -> list[AssetCatalogRecord]:
        """Catalog rows, ordered by key: the given keys, or those under `prefix`, after
        the cursor `after_key`."""

    @abstractmethod
    def get_asset_events(
        self,
        asset_key: str,
        event_type: str = ASSET_MATERIALIZATION,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[EventRecord]:
        """A key's events of one type, newest first (a history page)."""

    @abstractmethod
    def get_asset_check_executions(
        self,
        asset_key: str,
        check_name: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
        latest_only: bool = False,
    ) -> list[AssetCheckExecutionRecord]:
        """Check evaluations of a key, newest first; `latest_only` gives one per check."""

    @abstractmethod
    def wipe_assets(self, asset_keys: Sequence[str]) -> int:
        """Forget the keys' history: catalog rows, indexed events and the asset events in
        the log. Returns how many keys had rows."""
