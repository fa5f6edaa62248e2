"""Partitioned config for op jobs: run config (and tags) computed from the partition.

@daily_partitioned_config(start_date="2024-01-01")
def my_config(start: datetime, end: datetime) -> dict:
    return {"ops": {"load": {"config": {"day": start.strftime("%Y-%m-%d")}}}}

@job(config=my_config)        # the job takes my_config's partitions_def
def load_job(): ...
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opgraph.errors import DefinitionError
from opgraph.partitions.definitions import (
    PartitionsDefinition,
    StaticPartitionsDefinition,
)
from opgraph.partitions.time_window import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

ConfigFn = Callable[[str], Mapping[str, Any]]
TagsFn = Callable[[str], Mapping[str, str]]


class PartitionedConfig:
    """Run config and tags of each partition of `partitions_def` (Dagster's names)."""

    def __init__(
        self,
        partitions_def: PartitionsDefinition,
        run_config_for_partition_key_fn: ConfigFn | None = None,
        decorated_fn: Callable[..., Any] | None = None,
        tags_for_partition_key_fn: TagsFn | None = None,
    ):
        if not isinstance(partitions_def, PartitionsDefinition):
            raise DefinitionError(
                f"PartitionedConfig partitions_def must be a PartitionsDefinition, got {partitions_def!r}"
            )
        self.partitions_def = partitions_def
        self._config_fn = run_config_for_partition_key_fn
        self._tags_fn = tags_for_partition_key_fn
        self.decorated_fn = decorated_fn

    def get_run_config_for_partition_key(self, partition_key: str) -> dict[str, Any]:
        if self._config_fn is None:
            return {}
        config = self._config_fn(partition_key)
        if not isinstance(config, Mapping):
            raise DefinitionError(
                f"the partitioned config function returned {config!r} for partition "
                f"{partition_key!r}; expected a run config dict"
            )
        return dict(config)

    def get_tags_for_partition_key(self, partition_key: str) -> dict[str, str]:
        if self._tags_fn is None:
            return {}
        return {str(k): str(v) for k, v in self._tags_fn(partition_key).items()}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The decorated function, called directly (as a unit test would)."""
        if self.decorated_fn is None:
            raise DefinitionError("this PartitionedConfig wraps no function to call")
        return self.decorated_fn(*args, **kwargs)


def static_partitioned_config(
    partition_keys: Sequence[str],
    tags_for_partition_fn: Callable[[str], Mapping[str, str]] | None = None,
    tags_for_partition_key_fn: TagsFn | None = None,
) -> Callable[[ConfigFn], PartitionedConfig]:
    """The decorated `fn(partition_key) -> run config` over a fixed list of keys."""
    partitions_def = StaticPartitionsDefinition(partition_keys)
    tags_fn = tags_for_partition_key_fn or tags_for_partition_fn

    def decorator(fn: ConfigFn) -> PartitionedConfig:
        return PartitionedConfig(
            partitions_def, fn, decorated_fn=fn, tags_for_partition_key_fn=tags_fn
        )

    return decorator


def _time_window_decorator(
    partitions_def: TimeWindowPartitionsDefinition,
    tags_for_partition_fn: Callable[[dt.datetime, dt.datetime], Mapping[str, str]] | None,
) -> Callable[[Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]], PartitionedConfig]:
    def decorator(fn: Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]) -> PartitionedConfig:
        if len(inspect.signature(fn).parameters) != 2:
            raise DefinitionError(
                f"{getattr(fn, '__name__', fn)!r}: a time-window partitioned config function "
                "takes (start, end), the datetimes of the partition's window"
            )

        def config_for_key(key: str) -> Mapping[str, Any]:
            window = partitions_def.time_window_for_partition_key(key)
            return fn(window.start, window.end)

        tags_for_key: TagsFn | None = None
        if tags_for_partition_fn is not None:
            tags_fn = tags_for_partition_fn

            def tags_for_key(key: str) -> Mapping[str, str]:
                window = partitions_def.time_window_for_partition_key(key)
                return tags_fn(window.start, window.end)

        return PartitionedConfig(
            partitions_def, config_for_key, decorated_fn=fn, tags_for_partition_key_fn=tags_for_key
        )

    return decorator


def daily_partitioned_config(
    start_date: dt.datetime | str,
    minute_offset: int = 0,
    hour_offset: int = 0,
    timezone: str | None = None,
    fmt: str | None = None,
    end_offset: int = 0,
    tags_for_partition_fn: Callable[[dt.datetime, dt.datetime], Mapping[str, str]] | None = None,
) -> Callable[[Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]], PartitionedConfig]:
    """The decorated `fn(start, end) -> run config` over daily partitions."""
    partitions_def = DailyPartitionsDefinition(
        start_date=start_date,
        minute_offset=minute_offset,
        hour_offset=hour_offset,
        timezone=timezone,
        fmt=fmt,
        end_offset=end_offset,
    )
    return _time_window_decorator(partitions_def, tags_for_partition_fn)


def hourly_partitioned_config(
    start_date: dt.datetime | str,
    minute_offset: int = 0,
    timezone: str | None = None,
    fmt: str | None = None,
    end_offset: int = 0,
    tags_for_partition_fn: Callable[[dt.datetime, dt.datetime], Mapping[str, str]] | None = None,
) -> Callable[[Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]], PartitionedConfig]:
    partitions_def = HourlyPartitionsDefinition(
        start_date=start_date,
        minute_offset=minute_offset,
        timezone=timezone,
        fmt=fmt,
        end_offset=end_offset,
    )
    return _time_window_decorator(partitions_def, tags_for_partition_fn)


def weekly_partitioned_config(
    start_date: dt.datetime | str,
    minute_offset: int = 0,
    hour_offset: int = 0,
    day_offset: int = 0,
    timezone: str | None = None,
    fmt: str | None = None,
    end_offset: int = 0,
    tags_for_partition_fn: Callable[[dt.datetime, dt.datetime], Mapping[str, str]] | None = None,
) -> Callable[[Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]], PartitionedConfig]:
    partitions_def = WeeklyPartitionsDefinition(
        start_date=start_date,
        minute_offset=minute_offset,
        hour_offset=hour_offset,
        day_offset=day_offset,
        timezone=timezone,
        fmt=fmt,
        end_offset=end_offset,
    )
    return _time_window_decorator(partitions_def, tags_for_partition_fn)


def monthly_partitioned_config(
    start_date: dt.datetime | str,
    minute_offset: int = 0,
    hour_offset: int = 0,
    day_offset: int = 1,
    timezone: str | None = None,
    fmt: str | None = None,
    end_offset: int = 0,
    tags_for_partition_fn: Callable[[dt.datetime, dt.datetime], Mapping[str, str]] | None = None,
) -> Callable[[Callable[[dt.datetime, dt.datetime], Mapping[str, Any]]], PartitionedConfig]:
    partitions_def = MonthlyPartitionsDefinition(
        start_date=start_date,
        minute_offset=minute_offset,
        hour_offset=hour_offset,
        day_offset=day_offset,
        timezone=timezone,
        fmt=fmt,
        end_offset=end_offset,
    )
    return _time_window_decorator(partitions_def, tags_for_partition_fn)
