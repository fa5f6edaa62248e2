"""Cron ticks in a time zone, with Dagster's rules for daylight saving time.

Partition windows run from one tick to the next, so every partition key depends on these
rules (docs/partitions.md, "Daylight saving time"):

- a tick that falls in the spring-forward gap moves to the first time after the gap
  (a daily 02:30 partition in New York starts at 03:00 on that day), except for crons
  that fire every hour, which skip it;
- a tick that is ambiguous in the fall-back hour happens once, at its later instant,
  except for crons that fire every hour, which fire at both instants.

Ticks are found as wall-clock (naive) times first, by plain arithmetic for the common
hourly/daily/weekly/monthly crons and by croniter otherwise (croniter stepping cost about
40 us a tick, 0.4 s for ten years of daily partitions), then placed in the zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import re
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

from croniter import croniter

from opgraph.errors import DefinitionError

UTC = dt.UTC
# No zone moves its clock by more than two hours at once: iteration starts this far
# before (after) the wall time so that no tick whose instant is in range is missed.
_MAX_SHIFT_S = 2 * 3600
_FIELD = r"(\d+)"
_HOURLY = re.compile(rf"^{_FIELD} \* \* \* \*$")
_DAILY = re.compile(rf"^{_FIELD} {_FIELD} \* \* \*$")
_WEEKLY = re.compile(rf"^{_FIELD} {_FIELD} \* \* {_FIELD}$")
_MONTHLY = re.compile(rf"^{_FIELD} {_FIELD} {_FIELD} \* \*$")
# A monthly cron on day 29-31 skips months: croniter handles it.
_MAX_ARITHMETIC_MONTH_DAY = 28


@functools.cache
def get_timezone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise DefinitionError(
            f"timezone {name!r} is not an IANA time zone name (for example 'UTC', "
            "'Europe/Berlin', 'America/New_York')"
        ) from exc


def check_cron(cron_schedule: str, field: str = "cron_schedule") -> str:
    """The cron string, if it is a valid five-field cron; a DefinitionError naming it if not."""
    if not isinstance(cron_schedule, str) or not croniter.is_valid(cron_schedule):
        raise DefinitionError(
            f"{field} {cron_schedule!r} is not a valid cron string (five fields: minute "
            "hour day-of-month month day-of-week, e.g. '0 0 * * *')"
        )
    parts = croniter.expand(cron_schedule)[0]
    if len(parts) != 5:
        raise DefinitionError(
            f"{field} {cron_schedule!r} has {len(parts)} fields; expected five "
            "(minute hour day-of-month month day-of-week)"
        )
    if parts[3] == [2] and len(parts[2]) == 1 and parts[2][0] in (30, 31):
        raise DefinitionError(f"{field} {cron_schedule!r} never fires (February has no 30th)")
    return cron_schedule


@functools.cache
def repeats_every_hour(cron_schedule: str) -> bool:
    return croniter.expand(cron_schedule)[0][1] == ["*"]


def _placements(naive: dt.datetime, tz: dt.tzinfo, hourly: bool) -> list[dt.datetime]:
    """The instants a wall-clock tick becomes in `tz` (zero, one or two of them)."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first]
    exists = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
    if not exists:  # in the spring-forward gap
        if hourly:
            return []
        top_of_hour = first.replace(minute=0, second=0, microsecond=0)
        return [top_of_hour.astimezone(UTC).astimezone(tz)]
    return [first, second] if hourly else [second]


def _arithmetic_step(
    cron_schedule: str,
) -> Callable[[dt.datetime, int], dt.datetime] | None:
    """For the common crons: move a time to its period's tick, then n periods on."""
    if m := _HOURLY.match(cron_schedule):
        minute = int(m[1])

        def hour_floor(t: dt.datetime) -> dt.datetime:
            return t.replace(minute=minute, second=0, microsecond=0)

        return lambda t, n: hour_floor(t) + dt.timedelta(hours=n)
    if m := _DAILY.match(cron_schedule):
        minute, hour = int(m[1]), int(m[2])

        def day_floor(t: dt.datetime) -> dt.datetime:
            return t.replace(hour=hour, minute=minute, second=0, microsecond=0)

        return lambda t, n: day_floor(t) + dt.timedelta(days=n)
    if m := _WEEKLY.match(cron_schedule):
        minute, hour, weekday = int(m[1]), int(m[2]), int(m[3]) % 7

        def week_floor(t: dt.datetime) -> dt.datetime:
            cron_weekday = t.isoweekday() % 7  # cron: 0 is Sunday
            back = (cron_weekday - weekday) % 7
            return t.replace(hour=hour, minute=minute, second=0, microsecond=0) - dt.timedelta(
                days=back
            )

        return lambda t, n: week_floor(t) + dt.timedelta(weeks=n)
    if (m := _MONTHLY.match(cron_schedule)) and int(m[3]) <= _MAX_ARITHMETIC_MONTH_DAY:
        minute, hour, day = int(m[1]), int(m[2]), int(m[3])

        def month_floor(t: dt.datetime) -> dt.datetime:
            return t.replace(day=day, hour=hour, minute=minute, second=0, microsecond=0)

        def add_months(t: dt.datetime, n: int) -> dt.datetime:
            t = month_floor(t)
            index = t.year * 12 + t.month - 1 + n
            return t.replace(year=index // 12, month=index % 12 + 1)

        return add_months
    return None


def _naive_ticks(cron_schedule: str, start: dt.datetime, ascending: bool) -> Iterator[dt.datetime]:
    """Wall-clock ticks from `start` on (inclusive), in one direction."""
    arithmetic = _arithmetic_step(cron_schedule)
    if arithmetic is not None:
        move = arithmetic
        # The floor of `start`'s period, then the first tick on the wanted side of it.
        tick = move(start, 0)
        if ascending and tick < start:
            tick = move(tick, 1)
        elif not ascending and tick > start:
            tick = move(tick, -1)
        step = 1 if ascending else -1
        while True:
            yield tick
            tick = move(tick, step)
    edge = start - dt.timedelta(seconds=1) if ascending else start + dt.timedelta(seconds=1)
    times = croniter(cron_schedule, edge)
    nxt = times.get_next if ascending else times.get_prev
    while True:
        yield nxt(dt.datetime)


def iterate_ticks(
    cron_schedule: str, timezone: str, from_ts: float, ascending: bool = True
) -> Iterator[dt.datetime]:
    """The cron's ticks at or after `from_ts` (ascending) or at or before it (descending),
    as aware datetimes in `timezone`, each instant once, in time order."""
    tz = get_timezone(timezone)
    hourly = repeats_every_hour(cron_schedule)
    wall = dt.datetime.fromtimestamp(from_ts, tz).replace(tzinfo=None)
    # Start a little before (after) the wall time: a tick's instant can precede its wall
    # time read in the current offset by up to the largest clock shift.
    shift = dt.timedelta(seconds=_MAX_SHIFT_S)
    naive = _naive_ticks(cron_schedule, wall - shift if ascending else wall + shift, ascending)
    sign = 1 if ascending else -1
    fixed = tz is UTC
    # Instants of an ambiguous hour wait here until no later tick can come before them.
    pending: list[tuple[float, int, dt.datetime]] = []  # (sign * ts, tiebreak, instant)
    last = -float("inf")  # sign * the last yielded ts: each instant once
    low = sign * from_ts
    counter = 0
    for tick in naive:
        placed = [tick.replace(tzinfo=UTC)] if fixed else _placements(tick, tz, hourly)
        if not placed:
            continue
        if not pending and len(placed) == 1:  # the usual case: no reordering to do
            key = sign * placed[0].timestamp()
            if key >= low and key > last:
                last = key
                yield placed[0]
            continue
        for instant in placed:
            counter += 1
            heapq.heappush(pending, (sign * instant.timestamp(), counter, instant))
        # Every later tick's instants come after this tick's first one.
        floor = min(sign * p.timestamp() for p in placed)
        while pending and pending[0][0] <= floor:
            key, _, instant = heapq.heappop(pending)
            if key >= low and key > last:
                last = key
                yield instant
