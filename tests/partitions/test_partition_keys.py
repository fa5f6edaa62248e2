"""Partition keys agree with Dagster's on the same inputs.

Each expected value comes from Dagster's documented behaviour: the examples in the
docstrings of its Hourly/Daily/Weekly/MonthlyPartitionsDefinition ("creates partitions
(2022-03-13-00:00, 2022-03-20-00:00), ..."), the rule that a window is included once it
has ended (end_offset extends or trims that), `end_date` exclusive, and its schedules'
daylight-saving rules (docs: "Execution times and daylight savings time"): a time that
does not exist moves to the first time after the gap, an ambiguous time happens at its
later instant, and hourly crons fire at both instants and skip the gap, the second
instant's key carrying its UTC offset.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opgraph.errors import DefinitionError
from opgraph.partitions.definitions import (
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionKeyError,
    PartitionKeyRange,
    StaticPartitionsDefinition,
)
from opgraph.partitions.time_window import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

# (id, definition, current_time, expected keys)
KEY_CASES = [
    (
        "daily",
        DailyPartitionsDefinition(start_date="2022-03-12"),
        dt.datetime(2022, 3, 15),
        ["2022-03-12", "2022-03-13", "2022-03-14"],
    ),
    (
        "daily, the current day is not over",
        DailyPartitionsDefinition(start_date="2022-03-12"),
        dt.datetime(2022, 3, 15, 23, 59),
        ["2022-03-12", "2022-03-13", "2022-03-14"],
    ),
    (
        "daily 16:15 offsets",
        DailyPartitionsDefinition(start_date="2022-03-12", minute_offset=15, hour_offset=16),
        dt.datetime(2022, 3, 14, 16, 15),
        ["2022-03-12", "2022-03-13"],
    ),
    (
        "daily end_offset=1 includes the day in progress",
        DailyPartitionsDefinition(start_date="2022-03-12", end_offset=1),
        dt.datetime(2022, 3, 14, 12),
        ["2022-03-12", "2022-03-13", "2022-03-14"],
    ),
    (
        "daily end_offset=-1 drops the last finished day",
        DailyPartitionsDefinition(start_date="2022-03-12", end_offset=-1),
        dt.datetime(2022, 3, 15, 12),
        ["2022-03-12", "2022-03-13"],
    ),
    (
        "daily end_date is exclusive",
        DailyPartitionsDefinition(start_date="2022-03-12", end_date="2022-03-14"),
        dt.datetime(2023, 1, 1),
        ["2022-03-12", "2022-03-13"],
    ),
    (
        "daily end_date with end_offset stops at the end",
        DailyPartitionsDefinition(start_date="2022-03-12", end_date="2022-03-14", end_offset=5),
        dt.datetime(2022, 3, 12, 1),
        ["2022-03-12", "2022-03-13"],
    ),
    (
        "daily custom fmt",
        DailyPartitionsDefinition(start_date="20220312", fmt="%Y%m%d"),
        dt.datetime(2022, 3, 14),
        ["20220312", "20220313"],
    ),
    (
        "daily nothing ended yet",
        DailyPartitionsDefinition(start_date="2022-03-12"),
        dt.datetime(2022, 3, 12, 23),
        [],
    ),
    (
        "weekly starts on the Sunday after start_date",
        WeeklyPartitionsDefinition(start_date="2022-03-12"),
        dt.datetime(2022, 3, 27),
        ["2022-03-13", "2022-03-20"],
    ),
    (
        "weekly Saturday 03:15",
        WeeklyPartitionsDefinition(
            start_date="2022-03-12", minute_offset=15, hour_offset=3, day_offset=6
        ),
        dt.datetime(2022, 3, 26, 3, 15),
        ["2022-03-12", "2022-03-19"],
    ),
    (
        "monthly starts on the first of the month after start_date",
        MonthlyPartitionsDefinition(start_date="2022-03-12"),
        dt.datetime(2022, 6, 1),
        ["2022-04-01", "2022-05-01"],
    ),
    (
        "monthly day 5 03:15",
        MonthlyPartitionsDefinition(
            start_date="2022-03-12", minute_offset=15, hour_offset=3, day_offset=5
        ),
        dt.datetime(2022, 6, 5, 3, 15),
        ["2022-04-05", "2022-05-05"],
    ),
    (
        "hourly minute_offset",
        HourlyPartitionsDefinition(start_date=dt.datetime(2022, 3, 12), minute_offset=15),
        dt.datetime(2022, 3, 12, 3, 15),
        ["2022-03-12-00:15", "2022-03-12-01:15", "2022-03-12-02:15"],
    ),
    (
        "hourly New York fall back: 01:00 twice, the second with its offset",
        HourlyPartitionsDefinition(
            start_date=dt.datetime(2024, 11, 3), timezone="America/New_York"
        ),
        dt.datetime(2024, 11, 3, 4, tzinfo=NY),
        [
            "2024-11-03-00:00",
            "2024-11-03-01:00",
            "2024-11-03-01:00-0500",
            "2024-11-03-02:00",
            "2024-11-03-03:00",
        ],
    ),
    (
        "hourly New York spring forward: no 02:00",
        HourlyPartitionsDefinition(
            start_date=dt.datetime(2024, 3, 10), timezone="America/New_York"
        ),
        dt.datetime(2024, 3, 10, 5, tzinfo=NY),
        ["2024-03-10-00:00", "2024-03-10-01:00", "2024-03-10-03:00", "2024-03-10-04:00"],
    ),
    (
        "hourly Berlin fall back",
        HourlyPartitionsDefinition(
            start_date=dt.datetime(2024, 10, 27, 1), timezone="Europe/Berlin"
        ),
        dt.datetime(2024, 10, 27, 4, tzinfo=BERLIN),
        [
            "2024-10-27-01:00",
            "2024-10-27-02:00",
            "2024-10-27-02:00+0100",
            "2024-10-27-03:00",
        ],
    ),
    (
        "hourly Berlin spring forward, end_offset=1",
        HourlyPartitionsDefinition(
            start_date=dt.datetime(2024, 3, 31), timezone="Europe/Berlin", end_offset=1
        ),
        dt.datetime(2024, 3, 31, 4, 30, tzinfo=BERLIN),
        ["2024-03-31-00:00", "2024-03-31-01:00", "2024-03-31-03:00", "2024-03-31-04:00"],
    ),
    (
        "hourly with an offset in fmt never appends one",
        HourlyPartitionsDefinition(
            start_date=dt.datetime(2024, 11, 3, 1),
            timezone="America/New_York",
            fmt="%Y-%m-%d-%H:%M%z",
        ),
        dt.datetime(2024, 11, 3, 2, tzinfo=NY),
        ["2024-11-03-01:00-0400", "2024-11-03-01:00-0500"],
    ),
    (
        "daily Berlin across both changes",
        DailyPartitionsDefinition(start_date="2024-03-30", timezone="Europe/Berlin"),
        dt.datetime(2024, 4, 1, tzinfo=BERLIN),
        ["2024-03-30", "2024-03-31"],
    ),
    (
        "a naive current_time is read in the definition's zone",
        DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York"),
        dt.datetime(2024, 1, 3, 0, 0),  # midnight in New York, 05:00 UTC
        ["2024-01-01", "2024-01-02"],
    ),
    (
        "an aware current_time keeps its instant",
        DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York"),
        dt.datetime(2024, 1, 3, 4, 59, tzinfo=dt.UTC),  # 23:59 on Jan 2 in New York
        ["2024-01-01"],
    ),
    (
        "cron every six hours",
        TimeWindowPartitionsDefinition(
            cron_schedule="0 */6 * * *", start="2024-01-01-00:00", fmt="%Y-%m-%d-%H:%M"
        ),
        dt.datetime(2024, 1, 2, 1),
        ["2024-01-01-00:00", "2024-01-01-06:00", "2024-01-01-12:00", "2024-01-01-18:00"],
    ),
    (
        "cron start between ticks begins at the next tick",
        TimeWindowPartitionsDefinition(
            cron_schedule="0 12 * * 1-5", start="2024-01-05", fmt="%Y-%m-%d"
        ),
        dt.datetime(2024, 1, 10),
        ["2024-01-05", "2024-01-08"],
    ),
]


@pytest.mark.parametrize(
    ("partitions_def", "now", "expected"), [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES]
)
def test_get_partition_keys(
    partitions_def: TimeWindowPartitionsDefinition, now: dt.datetime, expected: list[str]
) -> None:
    assert list(partitions_def.get_partition_keys(current_time=now)) == expected
    if expected:
        assert partitions_def.get_first_partition_key(current_time=now) == expected[0]
        assert partitions_def.get_last_partition_key(current_time=now) == expected[-1]
        assert partitions_def.get_num_partitions(current_time=now) == len(expected)
        for key in expected:
            assert partitions_def.has_partition_key(key, current_time=now), key
    else:
        assert partitions_def.get_last_partition_key(current_time=now) is None


# Windows (start, end) of single keys, as aware datetimes in the definition's zone.
WINDOW_CASES = [
    (
        "daily 16:15",
        DailyPartitionsDefinition(start_date="2022-03-12", minute_offset=15, hour_offset=16),
        "2022-03-12",
        (
            dt.datetime(2022, 3, 12, 16, 15, tzinfo=dt.UTC),
            dt.datetime(2022, 3, 13, 16, 15, tzinfo=dt.UTC),
        ),
    ),
    (
        "daily 02:30 New York on the spring-forward day starts at 03:00",
        DailyPartitionsDefinition(
            start_date="2024-03-01", hour_offset=2, minute_offset=30, timezone="America/New_York"
        ),
        "2024-03-10",
        (dt.datetime(2024, 3, 10, 3, tzinfo=NY), dt.datetime(2024, 3, 11, 2, 30, tzinfo=NY)),
    ),
    (
        "daily 01:30 New York on the fall-back day starts at the later 01:30",
        DailyPartitionsDefinition(
            start_date="2024-11-01", hour_offset=1, minute_offset=30, timezone="America/New_York"
        ),
        "2024-11-03",
        (
            dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY),
            dt.datetime(2024, 11, 4, 1, 30, tzinfo=NY),
        ),
    ),
    (
        "hourly New York, the second 01:00",
        HourlyPartitionsDefinition(start_date="2024-11-01-00:00", timezone="America/New_York"),
        "2024-11-03-01:00-0500",
        (dt.datetime(2024, 11, 3, 1, fold=1, tzinfo=NY), dt.datetime(2024, 11, 3, 2, tzinfo=NY)),
    ),
    (
        "hourly New York, the first 01:00",
        HourlyPartitionsDefinition(start_date="2024-11-01-00:00", timezone="America/New_York"),
        "2024-11-03-01:00",
        (dt.datetime(2024, 11, 3, 1, tzinfo=NY), dt.datetime(2024, 11, 3, 1, fold=1, tzinfo=NY)),
    ),
    (
        "hourly Berlin, 01:00 ends at 03:00 on the spring-forward day",
        HourlyPartitionsDefinition(start_date="2024-03-01-00:00", timezone="Europe/Berlin"),
        "2024-03-31-01:00",
        (dt.datetime(2024, 3, 31, 1, tzinfo=BERLIN), dt.datetime(2024, 3, 31, 3, tzinfo=BERLIN)),
    ),
    (
        "monthly Berlin, March is 30 days 23 hours",
        MonthlyPartitionsDefinition(start_date="2024-01-01", timezone="Europe/Berlin"),
        "2024-03-01",
        (dt.datetime(2024, 3, 1, tzinfo=BERLIN), dt.datetime(2024, 4, 1, tzinfo=BERLIN)),
    ),
]


@pytest.mark.parametrize(
    ("partitions_def", "key", "window"),
    [c[1:] for c in WINDOW_CASES],
    ids=[c[0] for c in WINDOW_CASES],
)
def test_time_window_for_partition_key(
    partitions_def: TimeWindowPartitionsDefinition,
    key: str,
    window: tuple[dt.datetime, dt.datetime],
) -> None:
    found = partitions_def.time_window_for_partition_key(key)
    assert (found.start.timestamp(), found.end.timestamp()) == (
        window[0].timestamp(),
        window[1].timestamp(),
    )
    assert partitions_def.format_key(found.start) == key


RANGE_CASES = [
    (
        "daily",
        DailyPartitionsDefinition(start_date="2024-01-01"),
        ("2024-01-30", "2024-02-02"),
        ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"],
    ),
    (
        "hourly over the New York fall back",
        HourlyPartitionsDefinition(start_date="2024-11-01-00:00", timezone="America/New_York"),
        ("2024-11-03-00:00", "2024-11-03-02:00"),
        ["2024-11-03-00:00", "2024-11-03-01:00", "2024-11-03-01:00-0500", "2024-11-03-02:00"],
    ),
    (
        "hourly over the Berlin spring forward",
        HourlyPartitionsDefinition(start_date="2024-03-01-00:00", timezone="Europe/Berlin"),
        ("2024-03-31-01:00", "2024-03-31-04:00"),
        ["2024-03-31-01:00", "2024-03-31-03:00", "2024-03-31-04:00"],
    ),
    (
        "a range is not limited by the current time",
        DailyPartitionsDefinition(start_date="2024-01-01"),
        ("2099-01-01", "2099-01-02"),
        ["2099-01-01", "2099-01-02"],
    ),
    (
        "weekly with one key",
        WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1),
        ("2024-01-08", "2024-01-08"),
        ["2024-01-08"],
    ),
]


@pytest.mark.parametrize(
    ("partitions_def", "bounds", "expected"),
    [c[1:] for c in RANGE_CASES],
    ids=[c[0] for c in RANGE_CASES],
)
def test_get_partition_keys_in_range(
    partitions_def: TimeWindowPartitionsDefinition, bounds: tuple[str, str], expected: list[str]
) -> None:
    assert list(partitions_def.get_partition_keys_in_range(PartitionKeyRange(*bounds))) == expected


def test_range_outside_the_definition_is_refused() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-10", end_date="2024-02-01")
    with pytest.raises(PartitionKeyError, match="before the first partition"):
        daily.get_partition_keys_in_range(PartitionKeyRange("2024-01-09", "2024-01-12"))
    with pytest.raises(PartitionKeyError, match="after the last partition"):
        daily.get_partition_keys_in_range(PartitionKeyRange("2024-01-30", "2024-02-01"))
    with pytest.raises(PartitionKeyError, match="not a time in the format '%Y-%m-%d'"):
        daily.get_partition_keys_in_range(PartitionKeyRange("yesterday", "2024-01-12"))


def test_has_partition_key() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-10", hour_offset=6)
    now = dt.datetime(2024, 1, 20)
    assert daily.has_partition_key("2024-01-18", current_time=now)
    assert not daily.has_partition_key("2024-01-19", current_time=now)  # ends 2024-01-20 06:00
    assert not daily.has_partition_key("2024-01-09", current_time=now)
    assert not daily.has_partition_key("2024-1-12", current_time=now)  # not how keys are written
    assert not daily.has_partition_key("garbage", current_time=now)


def test_partition_key_for_timestamp_and_cron() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York")
    noon = dt.datetime(2024, 3, 10, 12, tzinfo=NY).timestamp()
    assert daily.get_partition_key_for_timestamp(noon) == "2024-03-10"
    midnight = dt.datetime(2024, 3, 10, tzinfo=NY).timestamp()
    assert daily.get_partition_key_for_timestamp(midnight) == "2024-03-10"
    assert daily.get_partition_key_for_timestamp(midnight, end_closed=True) == "2024-03-09"
    assert daily.get_cron_schedule() == "0 0 * * *"
    assert daily.get_cron_schedule(hour_of_day=2, minute_of_hour=30) == "30 2 * * *"
    weekly = WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1)
    assert (weekly.cron_schedule, weekly.day_offset) == ("0 0 * * 1", 1)
    assert MonthlyPartitionsDefinition(start_date="2024-01-01").cron_schedule == "0 0 1 * *"
    with pytest.raises(DefinitionError, match="hour_of_day cannot be set for hourly"):
        HourlyPartitionsDefinition(start_date="2024-01-01-00:00").get_cron_schedule(hour_of_day=3)


def test_bad_definitions_name_the_field() -> None:
    with pytest.raises(DefinitionError, match="timezone 'Mars/Olympus'"):
        DailyPartitionsDefinition(start_date="2024-01-01", timezone="Mars/Olympus")
    with pytest.raises(DefinitionError, match="start '01/02/2024'"):
        DailyPartitionsDefinition(start_date="01/02/2024")
    with pytest.raises(DefinitionError, match="hour_offset must be an integer from 0 to 23"):
        DailyPartitionsDefinition(start_date="2024-01-01", hour_offset=24)
    with pytest.raises(DefinitionError, match="cron_schedule '0 0 \\* \\*' is not a valid cron"):
        TimeWindowPartitionsDefinition(cron_schedule="0 0 * *", start="2024-01-01", fmt="%Y-%m-%d")


def test_static_partitions() -> None:
    regions = StaticPartitionsDefinition(["us", "eu", "apac"])
    assert regions.get_partition_keys() == ["us", "eu", "apac"]
    assert regions.get_partition_keys_in_range(PartitionKeyRange("eu", "apac")) == ["eu", "apac"]
    with pytest.raises(PartitionKeyError, match="range start 'mars'"):
        regions.get_partition_keys_in_range(PartitionKeyRange("mars", "apac"))
    with pytest.raises(PartitionKeyError, match="backwards"):
        regions.get_partition_keys_in_range(PartitionKeyRange("apac", "us"))
    with pytest.raises(DefinitionError, match="repeats \\['us'\\]"):
        StaticPartitionsDefinition(["us", "us"])
    with pytest.raises(DefinitionError, match=r"'a\.\.\.b'"):
        StaticPartitionsDefinition(["a...b"])
    assert regions == StaticPartitionsDefinition(["us", "eu", "apac"])


class _Store:
    def __init__(self, keys: dict[str, list[str]]):
        self.keys = keys

    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        return list(self.keys.get(partitions_def_name, []))

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        return partition_key in self.keys.get(partitions_def_name, [])


def test_dynamic_partitions_read_their_store() -> None:
    from opgraph.partitions.definitions import dynamic_partitions_store

    customers = DynamicPartitionsDefinition(name="customers")
    store = _Store({"customers": ["acme", "globex"]})
    assert customers.get_partition_keys(dynamic_partitions_store=store) == ["acme", "globex"]
    with dynamic_partitions_store(store):
        assert customers.has_partition_key("globex")
    with pytest.raises(PartitionKeyError, match="pass dynamic_partitions_store=instance"):
        customers.get_partition_keys()
    request = customers.build_add_request(["initech"])
    assert (request.partitions_def_name, list(request.partition_keys)) == ("customers", ["initech"])
    with pytest.raises(DefinitionError, match="exactly one of name="):
        DynamicPartitionsDefinition()


def test_multi_partitions() -> None:
    multi = MultiPartitionsDefinition(
        {
            "region": StaticPartitionsDefinition(["us", "eu"]),
            "date": DailyPartitionsDefinition(start_date="2024-01-01"),
        }
    )
    keys = multi.get_partition_keys(current_time=dt.datetime(2024, 1, 3))
    # Dimensions sort by name: `date` first, and it varies slowest.
    assert keys == ["2024-01-01|us", "2024-01-01|eu", "2024-01-02|us", "2024-01-02|eu"]
    assert keys[1].keys_by_dimension == {"date": "2024-01-01", "region": "eu"}
    key = MultiPartitionKey({"region": "eu", "date": "2024-01-02"})
    assert key == "2024-01-02|eu" and isinstance(key, str)
    assert multi.has_partition_key("2024-01-02|eu", current_time=dt.datetime(2024, 1, 3))
    assert not multi.has_partition_key("2024-01-02|mars", current_time=dt.datetime(2024, 1, 3))
    assert multi.get_partition_keys_in_range(
        PartitionKeyRange("2024-01-01|us", "2024-01-02|us")
    ) == [
        "2024-01-01|us",
        "2024-01-02|us",
    ]
    with pytest.raises(DefinitionError, match="exactly two dimensions"):
        MultiPartitionsDefinition({"a": StaticPartitionsDefinition(["x"])})
    with pytest.raises(DefinitionError, match="with one of \\| , \\[ \\]"):
        MultiPartitionsDefinition(
            {"a": StaticPartitionsDefinition(["x|y"]), "b": StaticPartitionsDefinition(["z"])}
        )


def test_ten_thousand_daily_keys_in_order() -> None:
    daily = DailyPartitionsDefinition(start_date="2000-01-01", timezone="Europe/Berlin")
    keys = daily.get_partition_keys(current_time=dt.datetime(2027, 5, 19))
    assert len(keys) == 10_000
    assert keys[0] == "2000-01-01" and keys[-1] == "2027-05-18"
    assert len(set(keys)) == len(keys)
