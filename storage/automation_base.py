"""Declarative automation's storage interface and records.

A tick of the automation daemon is committed in one transaction: its row (whose id is the
evaluation id, taken by insert: a second daemon committing the same evaluation gets
`AutomationTickExists`), the per-asset state its conditions keep, and the evaluations it
records. Its runs are made after that commit and listed on the tick; a tick left STARTED
by a crash has its runs made by the next tick (their run keys make that idempotent).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class AutomationTickExists(Exception):
    """Another daemon committed this evaluation id first."""


@dataclass(frozen=True)
class AutomationTick:
    evaluation_id: int
    status: str  # STARTED (runs being made), SUCCESS, FAILURE
    timestamp: float
    num_evaluated: int
    num_requested: int
    # "requests": [{"location", "asset_keys", "partition_key"}], "run_ids", "error"
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0


@dataclass(frozen=True)
class AutomationEvaluationRecord:
    evaluation_id: int
    asset_key: str
    timestamp: float
    num_requested: int
    # "reason", "requested_partitions", "condition" (the tree: name, label, true, children)
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


class AutomationStorage(ABC):
    @abstractmethod
    def commit_automation_tick(
        self,
        tick: AutomationTick,
        states: Mapping[str, dict[str, Any]],
        evaluations: Sequence[AutomationEvaluationRecord],
    ) -> None:
        """Store the tick, upsert the assets' states and add the evaluations, in one
        transaction; AutomationTickExists if the evaluation id is taken."""

    @abstractmethod
    def update_automation_tick(
        self, evaluation_id: int, status: str, data: dict[str, Any], now: float
    ) -> None: ...

    @abstractmethod
    def get_automation_ticks(
        self, limit: int = 20, before_id: int | None = None
    ) -> list[AutomationTick]:
        """Newest first."""

    @abstractmethod
    def get_automation_states(self) -> dict[str, dict[str, Any]]:
        """Every asset's state, by asset key."""

    @abstractmethod
    def get_automation_evaluations(
        self, asset_key: str, limit: int = 20, before_id: int | None = None
    ) -> list[AutomationEvaluationRecord]:
        """An asset's evaluations, newest first."""

    @abstractmethod
    def purge_automation_records(self, before: float) -> int:
        """Delete evaluations and finished ticks older than `before` (the newest tick is
        kept: it holds the evaluation id to go on from); returns the rows deleted."""

    @abstractmethod
    def get_materialized_partitions(
        self, asset_key: str
    ) -> dict[str, tuple[int, float, str | None]]:
        """Partition key -> (event id, time, run id) of its newest materialization, for
        every partition of the asset that was ever materialized."""
