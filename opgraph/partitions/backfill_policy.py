"""Dagster's `BackfillPolicy`: how an asset backfill groups an asset's partitions into
runs. `single_run()` puts every requested partition in one run of the partition range;
`multi_run(n)` puts at most `n` contiguous partitions (in the partitions definition's
order) in each run. An asset without a policy gets one run per partition."""

from __future__ import annotations

from enum import Enum
from typing import Any

from opgraph.errors import DefinitionError


class BackfillPolicyType(Enum):
    SINGLE_RUN = "SINGLE_RUN"
    MULTI_RUN = "MULTI_RUN"


class BackfillPolicy:
    """`max_partitions_per_run=None`: every partition of a backfill in one run."""

    __slots__ = ("max_partitions_per_run",)

    def __init__(self, max_partitions_per_run: int | None = 1):
        if max_partitions_per_run is not None and (
            isinstance(max_partitions_per_run, bool)
            or not isinstance(max_partitions_per_run, int)
            or max_partitions_per_run < 1
        ):
            raise DefinitionError(
                "BackfillPolicy max_partitions_per_run must be a positive integer or None, "
                f"got {max_partitions_per_run!r}"
            )
        self.max_partitions_per_run = max_partitions_per_run

    @staticmethod
    def single_run() -> BackfillPolicy:
        return BackfillPolicy(max_partitions_per_run=None)

    @staticmethod
    def multi_run(max_partitions_per_run: int = 1) -> BackfillPolicy:
        return BackfillPolicy(max_partitions_per_run=max_partitions_per_run)

    @property
    def policy_type(self) -> BackfillPolicyType:
        if self.max_partitions_per_run is None:
            return BackfillPolicyType.SINGLE_RUN
        return BackfillPolicyType.MULTI_RUN

    @property
    def description(self) -> str:
        if self.max_partitions_per_run is None:
            return "Backfills all partitions in a single run"
        return (
            "Backfills in multiple runs, with a maximum of "
            f"{self.max_partitions_per_run} partitions per run"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type.value,
            "max_partitions_per_run": self.max_partitions_per_run,
            "description": self.description,
        }

    @staticmethod
    def from_json(data: Any) -> BackfillPolicy | None:
        if data is None:
            return None
        return BackfillPolicy(data.get("max_partitions_per_run"))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BackfillPolicy)
            and other.max_partitions_per_run == self.max_partitions_per_run
        )

    def __hash__(self) -> int:
        return hash(("BackfillPolicy", self.max_partitions_per_run))

    def __repr__(self) -> str:
        if self.max_partitions_per_run is None:
            return "BackfillPolicy.single_run()"
        return f"BackfillPolicy.multi_run(max_partitions_per_run={self.max_partitions_per_run})"


def chunk_keys(keys: list[str], policy: BackfillPolicy | None) -> list[list[str]]:
    """The requested keys (already in the partitions definition's order) grouped into
    runs: one per key without a policy, all in one with single_run, n per run with
    multi_run(n)."""
    if policy is None:
        return [[k] for k in keys]
    size = policy.max_partitions_per_run or max(len(keys), 1)
    return [keys[i : i + size] for i in range(0, len(keys), size)]
