"""An asset's partitions by status, for a status bar: one character per partition in the
partitions definition's order (M materialized, F failed, I in progress, . missing), and the
runs of one status as key ranges. The GraphQL field and `opgraph assets partitions` both
show it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opgraph_storage.partitions_base import AssetPartitionStatus

STATUS_CHARS = {
    AssetPartitionStatus.MATERIALIZED: "M",
    AssetPartitionStatus.FAILED: "F",
    AssetPartitionStatus.IN_PROGRESS: "I",
}
MISSING_CHAR = "."
STATUS_NAMES = {"M": "materialized", "F": "failed", "I": "in progress", MISSING_CHAR: "missing"}


@dataclass(frozen=True)
class StatusRange:
    status: str  # a name of STATUS_NAMES
    first: str
    last: str
    count: int


@dataclass(frozen=True)
class PartitionStatusBar:
    keys: Sequence[str]
    text: str  # one character per key

    def count(self, status_char: str) -> int:
        return self.text.count(status_char)

    def ranges(self) -> list[StatusRange]:
        """Consecutive partitions of one status, in the definition's order."""
        found: list[StatusRange] = []
        start = 0
        for index in range(1, len(self.text) + 1):
            if index == len(self.text) or self.text[index] != self.text[start]:
                found.append(
                    StatusRange(
                        STATUS_NAMES[self.text[start]],
                        self.keys[start],
                        self.keys[index - 1],
                        index - start,
                    )
                )
                start = index
        return found


def status_bar(
    keys: Sequence[str], statuses: Mapping[str, AssetPartitionStatus]
) -> PartitionStatusBar:
    """`keys` (the definition's, in order) with the statuses stored for some of them."""
    text = "".join(
        STATUS_CHARS.get(statuses[k], MISSING_CHAR) if k in statuses else MISSING_CHAR for k in keys
    )
    return PartitionStatusBar(list(keys), text)
