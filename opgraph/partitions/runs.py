"""The run config and tags of a run for one partition of a job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opgraph.errors import DefinitionError
from opgraph.partitions.definitions import (
    AddDynamicPartitionsRequest,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsStore,
    MultiPartitionsDefinition,
    PartitionKeyError,
    check_key_characters,
)
from opgraph.partitions.tags import partition_tags


def partition_run(
    job: Any,
    partition_key: str,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    dynamic_partitions_store: DynamicPartitionsStore | None = None,
    validate: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(run config, tags) of `job`'s run for `partition_key`: the given run config, or
    else the partitioned config's for the key; its tags, the given ones, then the
    partition's own (they win: they say what the run is for)."""
    partitions_def = getattr(job, "partitions_def", None)
    if partitions_def is None:
        raise DefinitionError(
            f"job {job.name!r} is not partitioned, so it has no partition {partition_key!r}: "
            "give it partitions_def= (or a partitioned config)"
        )
    if validate and not partitions_def.has_partition_key(
        partition_key, dynamic_partitions_store=dynamic_partitions_store
    ):
        raise PartitionKeyError(
            f"{partition_key!r} is not a partition of job {job.name!r} ({partitions_def})"
        )
    if isinstance(partitions_def, MultiPartitionsDefinition):
        partition_key = partitions_def.get_partition_key_from_str(partition_key)
    partitioned = getattr(job, "partitioned_config", None)
    config = dict(run_config or {})
    extra_tags: dict[str, str] = {}
    if partitioned is not None:
        if not config:
            config = partitioned.get_run_config_for_partition_key(partition_key)
        extra_tags = partitioned.get_tags_for_partition_key(partition_key)
    return config, {**extra_tags, **dict(tags or {}), **partition_tags(partition_key)}


class PendingDynamicPartitions:
    """A store as it will be once a sensor's dynamic partitions requests are applied: a
    sensor may add a key and request its run in one SensorResult."""

    def __init__(self, store: DynamicPartitionsStore | None, requests: Sequence[Any]):
        self._store = store
        self._added: dict[str, list[str]] = {}
        self._deleted: dict[str, set[str]] = {}
        for request in requests:
            name = request.partitions_def_name
            if isinstance(request, AddDynamicPartitionsRequest):
                self._added.setdefault(name, []).extend(request.partition_keys)
                self._deleted.get(name, set()).difference_update(request.partition_keys)
            elif isinstance(request, DeleteDynamicPartitionsRequest):
                self._deleted.setdefault(name, set()).update(request.partition_keys)

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        stored = (
            list(self._store.get_dynamic_partitions(partitions_def_name)) if self._store else []
        )
        keys = list(dict.fromkeys([*stored, *self._added.get(partitions_def_name, [])]))
        deleted = self._deleted.get(partitions_def_name, set())
        return [k for k in keys if k not in deleted]

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        if partition_key in self._deleted.get(partitions_def_name, set()):
            return False
        if partition_key in self._added.get(partitions_def_name, []):
            return True
        return self._store is not None and self._store.has_dynamic_partition(
            partitions_def_name, partition_key
        )


def dynamic_partitions_request_snapshots(requests: Sequence[Any]) -> tuple[Any, ...]:
    """A sensor's requests as JSON records for the daemon (opgraph.workspace.base)."""
    from opgraph.workspace.base import DynamicPartitionsRequestSnapshot

    snapshots = []
    for index, request in enumerate(requests):
        if isinstance(request, AddDynamicPartitionsRequest):
            action = "add"
        elif isinstance(request, DeleteDynamicPartitionsRequest):
            action = "delete"
        else:
            raise DefinitionError(
                f"dynamic_partitions_requests[{index}] is {request!r}; expected an "
                "AddDynamicPartitionsRequest or a DeleteDynamicPartitionsRequest"
            )
        keys = check_key_characters(
            list(request.partition_keys), f"dynamic_partitions_requests[{index}].partition_keys"
        )
        snapshots.append(
            DynamicPartitionsRequestSnapshot(action, request.partitions_def_name, tuple(keys))
        )
    return tuple(snapshots)


def apply_dynamic_partitions_requests(instance: Any, requests: Sequence[Any]) -> None:
    """The daemon's side: store what a sensor tick asked, in the order it asked."""
    for request in requests:
        if request.action == "add":
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def needs_instance(partitions_def: Any) -> bool:
    """Whether listing the definition's keys reads stored dynamic partitions."""
    from opgraph.partitions.definitions import (
        DynamicPartitionsDefinition,
        MultiPartitionsDefinition,
    )

    if isinstance(partitions_def, DynamicPartitionsDefinition):
        return partitions_def.name is not None
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return any(needs_instance(d.partitions_def) for d in partitions_def.partitions_defs)
    return False
