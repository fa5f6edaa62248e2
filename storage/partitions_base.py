"""Partitions' storage interface and records: dynamic partition keys and backfills.

Dynamic keys are kept in the order they were first added (Dagster lists them so). A
backfill is one row plus one row per (target, partition) it must run; the primary key of
those rows is what makes a second run for one asset partition in one backfill impossible,
and their status moves only by compare-and-set, so a daemon that died mid-tick and its
standby never both submit one partition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# A partition key is part of composite primary keys; PostgreSQL's B-tree entries hold
# about 2,700 bytes, so keys stay within 255 characters.
MAX_PARTITION_KEY_CHARS = 255


class BackfillStatus(Enum):
    REQUESTED = "REQUESTED"  # the daemon submits its partitions' runs
    CANCELING = "CANCELING"  # no new runs; waiting for the runs in flight
    CANCELED = "CANCELED"
    COMPLETED = "COMPLETED"  # every partition ran (some may have failed)
    FAILED = "FAILED"  # the backfill itself could not go on (e.g. its job is gone)


class BackfillPartitionStatus(Enum):
    PENDING = "PENDING"  # no run yet
    SUBMITTED = "SUBMITTED"  # a run was created for it (run_id says which)
    MATERIALIZED = "MATERIALIZED"  # its run succeeded
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class AssetPartitionStatus(Enum):
    """An asset partition's row in `asset_partitions`; a partition without one is missing."""

    MATERIALIZED = "MATERIALIZED"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"


FINISHED_BACKFILL_STATUSES = frozenset(
    {BackfillStatus.CANCELED, BackfillStatus.COMPLETED, BackfillStatus.FAILED}
)


@dataclass(frozen=True)
class BackfillRecord:
    backfill_id: str
    status: BackfillStatus
    num_partitions: int
    created_at: float
    updated_at: float
    job_name: str | None = None
    location_name: str | None = None
    max_runs_in_flight: int | None = None
    # What to run: asset selection or job, partition selection, run config, tags (JSON).
    data: dict[str, Any] = field(default_factory=dict)
    ended_at: float | None = None


@dataclass(frozen=True)
class BackfillPartition:
    backfill_id: str
    target: str  # an asset key (`a/b`) or the job's name
    partition_key: str
    status: BackfillPartitionStatus
    run_id: str | None = None
    updated_at: float = 0.0


class BackfillAlreadyExists(Exception):
    pass


def check_partition_key_lengths(keys: Iterable[str], what: str) -> None:
    for key in keys:
        if not isinstance(key, str) or not key or len(key) > MAX_PARTITION_KEY_CHARS:
            raise ValueError(
                f"{what} {key!r} is not a partition key: expected a string of 1 to "
                f"{MAX_PARTITION_KEY_CHARS} characters"
            )


class PartitionStorage(ABC):
    # -- dynamic partitions -------------------------------------------------------------
    @abstractmethod
    def add_dynamic_partitions(
        self, partitions_def_name: str, partition_keys: Sequence[str]
    ) -> int:
        """Add the keys not there yet (in the given order); returns how many were new."""

    @abstractmethod
    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        """Returns whether the key was there."""

    @abstractmethod
    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        """The keys in the order they were added."""

    @abstractmethod
    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool: ...

    # -- asset partitions ----------------------------------------------------------------
    @abstractmethod
    def get_asset_partition_statuses(
        self, asset_key: str, partition_keys: Sequence[str] | None = None
    ) -> dict[str, AssetPartitionStatus]:
        """Status per partition that has one (the given keys, or all); written with the
        asset events that change it (a materialization with a partition)."""

    @abstractmethod
    def count_asset_partitions(self, asset_key: str) -> dict[AssetPartitionStatus, int]: ...

    # -- backfills ----------------------------------------------------------------------
    @abstractmethod
    def add_backfill(
        self, backfill: BackfillRecord, partitions: Sequence[tuple[str, str]]
    ) -> BackfillRecord:
        """Store a backfill and its (target, partition key) rows, PENDING, in one
        transaction; BackfillAlreadyExists if the id is taken."""

    @abstractmethod
    def get_backfill(self, backfill_id: str) -> BackfillRecord | None: ...

    @abstractmethod
    def get_backfills(
        self,
        statuses: Iterable[BackfillStatus] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> list[BackfillRecord]:
        """Newest first; `cursor` is a backfill id: those created before it."""

    @abstractmethod
    def move_backfill(
        self,
        backfill_id: str,
        to_status: BackfillStatus,
        from_statuses: Iterable[BackfillStatus],
        now: float,
    ) -> bool:
        """Compare-and-set of the backfill's status; True if this call moved it."""

    @abstractmethod
    def get_backfill_partitions(
        self,
        backfill_id: str,
        statuses: Iterable[BackfillPartitionStatus] | None = None,
        limit: int | None = None,
    ) -> list[BackfillPartition]:
        """Ordered by target, then partition key."""

    @abstractmethod
    def count_backfill_partitions(self, backfill_id: str) -> dict[BackfillPartitionStatus, int]: ...

    @abstractmethod
    def claim_backfill_partitions(
        self,
        backfill_id: str,
        limit: int,
        now: float,
        run_id_for: Callable[[str, str], str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> list[tuple[str, str]]:
        """Move up to `limit` PENDING rows (in target, key order; or only among
        `candidates`, in their order) to SUBMITTED with the run id `run_id_for(target,
        key)`, in one transaction; returns the rows this call moved. Two callers at once
        never move one row twice (PostgreSQL: rows another transaction holds are
        skipped)."""

    @abstractmethod
    def move_backfill_partitions(
        self,
        backfill_id: str,
        rows: Sequence[tuple[str, str]],
        to_status: BackfillPartitionStatus,
        from_statuses: Iterable[BackfillPartitionStatus],
        now: float,
        run_id: str | None = None,
    ) -> int:
        """Compare-and-set of (target, partition key) rows' status (and run id, if given),
        in one transaction; returns how many moved."""

    @abstractmethod
    def add_backfill_runs(self, records: Sequence[Any]) -> list[str]:
        """Store a backfill tick's NOT_STARTED runs (RunRecords) and their tags in one
        transaction, skipping any whose run id or run key is taken (made before a crash);
        returns the ids of the runs this call stored."""
