"""Partitions definitions travel as JSON in job snapshots: a process that loads no user
code (webserver, daemon) rebuilds the same definition and lists the same keys."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from opgraph import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    HourlyPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    daily_partitioned_config,
    job,
    op,
)
from opgraph.partitions.snapshot import partitions_from_snapshot, partitions_snapshot
from opgraph.snapshots import job_snapshot

DEFINITIONS = [
    DailyPartitionsDefinition(start_date="2024-01-01", timezone="Europe/Berlin", end_offset=1),
    # Starts at the second 01:00 of New York's fall-back night: the fold survives.
    HourlyPartitionsDefinition(
        start_date=dt.datetime(2024, 11, 3, 1, fold=1),
        end_date="2024-11-05-00:00",
        timezone="America/New_York",
    ),
    TimeWindowPartitionsDefinition(
        cron_schedule="0 */6 * * 1-5", start="2024-01-01", fmt="%Y-%m-%d-%H"
    ),
    StaticPartitionsDefinition(["us", "eu"]),
    DynamicPartitionsDefinition(name="files"),
    MultiPartitionsDefinition(
        {
            "date": DailyPartitionsDefinition(start_date="2024-01-01"),
            "region": StaticPartitionsDefinition(["us"]),
        }
    ),
]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: type(d).__name__)
def test_a_definition_survives_json(definition: Any) -> None:
    snapshot = json.loads(json.dumps(partitions_snapshot(definition)))
    rebuilt = partitions_from_snapshot(snapshot)
    assert rebuilt == definition
    if not isinstance(definition, DynamicPartitionsDefinition):
        now = dt.datetime(2024, 11, 6)
        assert rebuilt is not None
        assert rebuilt.get_partition_keys(current_time=now) == definition.get_partition_keys(
            current_time=now
        )


def test_a_function_dynamic_definition_is_snapshotted_as_its_keys() -> None:
    computed = DynamicPartitionsDefinition(partition_fn=lambda current_time: ["a", "b"])
    assert partitions_snapshot(computed) == {"type": "static", "keys": ["a", "b"]}


def test_job_snapshots_carry_partitions() -> None:
    @daily_partitioned_config(start_date="2024-01-01")
    def config(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        return {}

    @op
    def noop() -> None: ...

    @job(config=config)
    def partitioned() -> None:
        noop()

    @job
    def plain() -> None:
        noop()

    snapshot = job_snapshot(partitioned)
    assert snapshot.has_partitioned_config
    assert partitions_from_snapshot(snapshot.partitions) == config.partitions_def
    assert job_snapshot(plain).partitions is None and not job_snapshot(plain).has_partitioned_config
