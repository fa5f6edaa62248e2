"""The same partition questions asked of real Dagster and of opgraph give the same answers.

A probe script runs in Dagster's interpreter (the virtualenv of
tests/compat/test_dagster_graphql_client.py: dagster-graphql brings dagster) and in ours;
each prints its answers as JSON: partition keys as of a time, windows of keys, keys in a
range, key membership, and partition mappings' upstream and downstream keys — for daily,
hourly, weekly, monthly and cron definitions with offsets and end_offset, across the DST
changes of Europe/Berlin and America/New_York.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.compat.test_dagster_graphql_client import _client_python

PROBE = r"""
import datetime as dt, json, sys
from zoneinfo import ZoneInfo

framework = sys.argv[1]
if framework == "dagster":
    import dagster as fw
    from dagster import PartitionKeyRange
else:
    import opgraph as fw
    from opgraph.partitions.definitions import PartitionKeyRange

def when(text):
    value, _, zone = text.partition(" ")
    moment = dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=ZoneInfo(zone)) if zone else moment

DEFS = {
    "daily": ("DailyPartitionsDefinition", {"start_date": "2024-01-01"}),
    "daily_1615": ("DailyPartitionsDefinition", {"start_date": "2022-03-12", "minute_offset": 15, "hour_offset": 16}),
    "daily_end1": ("DailyPartitionsDefinition", {"start_date": "2024-01-01", "end_offset": 1}),
    "daily_endm2": ("DailyPartitionsDefinition", {"start_date": "2024-01-01", "end_offset": -2}),
    "daily_enddate": ("DailyPartitionsDefinition", {"start_date": "2024-01-01", "end_date": "2024-01-05"}),
    "daily_fmt": ("DailyPartitionsDefinition", {"start_date": "20240101", "fmt": "%Y%m%d"}),
    "daily_berlin": ("DailyPartitionsDefinition", {"start_date": "2024-03-28", "timezone": "Europe/Berlin"}),
    "daily_ny_0230": ("DailyPartitionsDefinition", {"start_date": "2024-03-08", "timezone": "America/New_York", "hour_offset": 2, "minute_offset": 30}),
    "daily_ny_0130": ("DailyPartitionsDefinition", {"start_date": "2024-11-01", "timezone": "America/New_York", "hour_offset": 1, "minute_offset": 30}),
    "hourly_ny": ("HourlyPartitionsDefinition", {"start_date": "2024-11-02-22:00", "timezone": "America/New_York"}),
    "hourly_ny_spring": ("HourlyPartitionsDefinition", {"start_date": "2024-03-09-22:00", "timezone": "America/New_York"}),
    "hourly_berlin": ("HourlyPartitionsDefinition", {"start_date": "2024-10-26-23:00", "timezone": "Europe/Berlin", "end_offset": 2}),
    "hourly_berlin_spring": ("HourlyPartitionsDefinition", {"start_date": "2024-03-30-22:00", "timezone": "Europe/Berlin", "minute_offset": 30}),
    "weekly": ("WeeklyPartitionsDefinition", {"start_date": "2022-03-12"}),
    "weekly_sat": ("WeeklyPartitionsDefinition", {"start_date": "2022-03-12", "minute_offset": 15, "hour_offset": 3, "day_offset": 6}),
    "weekly_berlin": ("WeeklyPartitionsDefinition", {"start_date": "2024-03-01", "timezone": "Europe/Berlin", "day_offset": 1}),
    "monthly": ("MonthlyPartitionsDefinition", {"start_date": "2022-03-12"}),
    "monthly_5": ("MonthlyPartitionsDefinition", {"start_date": "2022-03-12", "minute_offset": 15, "hour_offset": 3, "day_offset": 5}),
    "monthly_ny": ("MonthlyPartitionsDefinition", {"start_date": "2024-01-01", "timezone": "America/New_York", "end_offset": 1}),
    "cron_6h": ("TimeWindowPartitionsDefinition", {"cron_schedule": "0 */6 * * *", "start": "2024-11-02-00:00", "fmt": "%Y-%m-%d-%H:%M", "timezone": "America/New_York"}),
    "cron_weekdays": ("TimeWindowPartitionsDefinition", {"cron_schedule": "0 12 * * 1-5", "start": "2024-01-05", "fmt": "%Y-%m-%d"}),
    "cron_30min_berlin": ("TimeWindowPartitionsDefinition", {"cron_schedule": "*/30 * * * *", "start": "2024-10-27-00:00", "fmt": "%Y-%m-%d-%H:%M", "timezone": "Europe/Berlin"}),
}
STATIC = {"regions": ["us", "eu", "apac"], "continents": ["americas", "europe"]}


def static(name):
    return fw.StaticPartitionsDefinition(STATIC[name])


def multi():
    return fw.MultiPartitionsDefinition({"region": static("regions"), "date": build("daily")})

def build(name):
    cls, kwargs = DEFS[name]
    return getattr(fw, cls)(**kwargs)

KEYS = [
    ("daily", "2024-01-10T12:00"), ("daily", "2024-01-01T23:00"), ("daily_1615", "2022-03-15T16:14"),
    ("daily_end1", "2024-01-04T12:00"), ("daily_endm2", "2024-01-06T00:00"), ("daily_enddate", "2024-03-01"),
    ("daily_fmt", "2024-01-03"), ("daily_berlin", "2024-04-02T00:00 Europe/Berlin"),
    ("daily_ny_0230", "2024-03-12T03:00 America/New_York"), ("daily_ny_0130", "2024-11-05T02:00 America/New_York"),
    ("hourly_ny", "2024-11-03T04:00 America/New_York"), ("hourly_ny_spring", "2024-03-10T05:00 America/New_York"),
    ("hourly_berlin", "2024-10-27T03:30 Europe/Berlin"), ("hourly_berlin_spring", "2024-03-31T04:45 Europe/Berlin"),
    ("weekly", "2022-04-01"), ("weekly_sat", "2022-03-26T03:15"), ("weekly_berlin", "2024-04-16 Europe/Berlin"),
    ("monthly", "2022-07-01"), ("monthly_5", "2022-07-05T03:15"), ("monthly_ny", "2024-04-15 America/New_York"),
    ("cron_6h", "2024-11-04T01:00 America/New_York"), ("cron_weekdays", "2024-01-16"),
    ("cron_30min_berlin", "2024-10-27T04:00 Europe/Berlin"),
]
RANGES = [
    ("daily", "2024-01-30", "2024-02-02"),
    ("hourly_ny", "2024-11-03-00:00", "2024-11-03-02:00"),
    ("hourly_berlin_spring", "2024-03-31-01:30", "2024-03-31-04:30"),
    ("weekly_berlin", "2024-03-25", "2024-04-08"),
    ("cron_30min_berlin", "2024-10-27-02:00", "2024-10-27-03:00"),
]
MAPPINGS = [
    # (downstream, upstream, downstream keys, start_offset, end_offset, now)
    ("daily", "daily", ["2024-01-05"], -1, -1, "2024-02-01"),
    ("daily", "daily", ["2024-01-05", "2024-01-06"], -2, 0, "2024-02-01"),
    ("daily_berlin", "hourly_berlin_spring", ["2024-03-31"], 0, 0, "2024-04-05 Europe/Berlin"),
    ("hourly_berlin_spring", "daily_berlin", ["2024-03-31-03:30"], 0, 0, "2024-04-05 Europe/Berlin"),
    ("weekly_berlin", "daily_berlin", ["2024-04-01"], 0, 0, "2024-04-30 Europe/Berlin"),
    ("daily_berlin", "weekly_berlin", ["2024-04-10"], 0, 0, "2024-04-30 Europe/Berlin"),
    ("monthly", "daily", ["2024-01-01"], 0, 0, "2024-03-01"),
]

out = {"keys": {}, "windows": {}, "ranges": {}, "members": {}, "upstream": {}, "downstream": {}}
for name, now in KEYS:
    d = build(name)
    keys = list(d.get_partition_keys(current_time=when(now)))
    out["keys"][f"{name}@{now}"] = keys
    out["windows"][f"{name}@{now}"] = [
        [d.time_window_for_partition_key(k).start.timestamp(), d.time_window_for_partition_key(k).end.timestamp()]
        for k in keys[:30]
    ]
    probes = keys[:1] + keys[-1:] + ["2024-13-01", "garbage"]
    if framework == "dagster":  # Dagster 1.13 reads the time from a loading context
        from dagster._core.definitions.partitions.context import partition_loading_context

        with partition_loading_context(when(now)):
            members = [d.has_partition_key(k) for k in probes]
    else:
        members = [d.has_partition_key(k, current_time=when(now)) for k in probes]
    out["members"][f"{name}@{now}"] = members
for name, first, last in RANGES:
    out["ranges"][f"{name}:{first}...{last}"] = list(build(name).get_partition_keys_in_range(PartitionKeyRange(first, last)))
for down, up, keys, start, end, now in MAPPINGS:
    mapping = fw.TimeWindowPartitionMapping(start_offset=start, end_offset=end)
    d, u = build(down), build(up)
    case = f"{down}<-{up}{keys}({start},{end})"
    if framework == "dagster":
        subset = d.empty_subset().with_partition_keys(keys)
        result = mapping.get_upstream_mapped_partitions_result_for_partitions(subset, d, u, current_time=when(now))
        upstream = sorted(result.partitions_subset.get_partition_keys())
        back = u.empty_subset().with_partition_keys(upstream)
        downstream = sorted(mapping.get_downstream_partitions_for_partitions(back, u, d, current_time=when(now)).get_partition_keys())
    else:
        upstream = sorted(mapping.get_upstream_partition_keys(keys, d, u, current_time=when(now)))
        downstream = sorted(mapping.get_downstream_partition_keys(upstream, u, d, current_time=when(now)))
    out["upstream"][case] = upstream
    out["downstream"][case] = downstream
OTHER_MAPPINGS = [
    # (mapping, downstream, upstream, downstream keys, now)
    ("IdentityPartitionMapping()", "regions", "regions", ["eu", "us"], "2024-01-05"),
    ("AllPartitionMapping()", "regions", "daily", ["eu"], "2024-01-05"),
    ("LastPartitionMapping()", "regions", "daily", ["eu"], "2024-01-05"),
    ("StaticPartitionMapping({'us': 'americas', 'eu': ['europe']})", "continents", "regions", ["europe"], "2024-01-05"),
    ("MultiToSingleDimensionPartitionMapping()", "multi", "daily", ["2024-01-02|eu", "2024-01-03|us"], "2024-01-05"),
    ("MultiToSingleDimensionPartitionMapping()", "daily", "multi", ["2024-01-02"], "2024-01-05"),
]


def any_def(name):
    if name in STATIC:
        return static(name)
    return multi() if name == "multi" else build(name)


for expression, down, up, keys, now in OTHER_MAPPINGS:
    mapping = eval("fw." + expression)
    d, u = any_def(down), any_def(up)
    case = f"{down}<-{up}{keys}:{expression}"
    if framework == "dagster":
        from dagster._core.definitions.partitions.context import partition_loading_context

        with partition_loading_context(when(now)):
            subset = d.empty_subset().with_partition_keys(keys)
            result = mapping.get_upstream_mapped_partitions_result_for_partitions(subset, d, u, current_time=when(now))
            upstream = sorted(result.partitions_subset.get_partition_keys())
    else:
        upstream = sorted(str(k) for k in mapping.get_upstream_partition_keys(keys, d, u, current_time=when(now)))
    out["upstream"][case] = upstream
out["multi_keys"] = [str(k) for k in multi().get_partition_keys(current_time=when("2024-01-03"))]
out["multi_range"] = [
    str(k) for k in multi().get_partition_keys_in_range(PartitionKeyRange("2024-01-01|eu", "2024-01-02|apac"))
]
out["static_range"] = list(static("regions").get_partition_keys_in_range(PartitionKeyRange("eu", "apac")))
print(json.dumps(out, sort_keys=True))
"""


def _answers(python: str, framework: str) -> dict:
    done = subprocess.run(
        [python, "-c", PROBE, framework], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagster_answers() -> dict:
    return _answers(str(_client_python()), "dagster")


@pytest.fixture(scope="module")
def opgraph_answers() -> dict:
    return _answers(sys.executable, "opgraph")


@pytest.mark.parametrize(
    "kind",
    [
        "keys",
        "windows",
        "members",
        "ranges",
        "upstream",
        "downstream",
        "multi_keys",
        "multi_range",
        "static_range",
    ],
)
def test_opgraph_answers_as_dagster_does(
    kind: str, dagster_answers: dict, opgraph_answers: dict
) -> None:
    theirs, ours = dagster_answers[kind], opgraph_answers[kind]
    if isinstance(theirs, list):
        assert ours == theirs
        return
    assert sorted(theirs) == sorted(ours)
    differing = {case: (theirs[case], ours[case]) for case in theirs if theirs[case] != ours[case]}
    assert differing == {}
