"""Time-window partitions: each key names a window from one cron tick to the next.

Semantics follow Dagster's (checked against its documentation and source, tests/partitions):

- the first window starts at the first tick at or after `start`; a window is in the set
  once it has ended by `current_time` (default: now), `end_offset` more windows past
  that (or fewer, if negative), and none that ends after `end`;
- a key is the window's start formatted with `fmt` in `timezone`; for crons that fire every
  hour, the second of two equal wall times in the fall-back hour gets its UTC offset
  appended (`2024-11-03-01:00-0500`), so that keys stay unique;
- a naive `current_time`, `start` or `end` is read in `timezone`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from enum import Enum

from opgraph.errors import DefinitionError
from opgraph.partitions.cron import check_cron, get_timezone, iterate_ticks, repeats_every_hour
from opgraph.partitions.definitions import (
    DynamicPartitionsStore,
    PartitionKeyError,
    PartitionKeyRange,
    PartitionsDefinition,
    TimeWindow,
)

DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_HOURLY_FORMAT_WITHOUT_TIMEZONE = "%Y-%m-%d-%H:%M"
DEFAULT_HOURLY_FORMAT_WITH_TIMEZONE = DEFAULT_HOURLY_FORMAT_WITHOUT_TIMEZONE + "%z"


class ScheduleType(Enum):
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


def cron_for(schedule_type: ScheduleType, minute: int, hour: int, day: int) -> str:
    if schedule_type is ScheduleType.HOURLY:
        return f"{minute} * * * *"
    if schedule_type is ScheduleType.DAILY:
        return f"{minute} {hour} * * *"
    if schedule_type is ScheduleType.WEEKLY:
        return f"{minute} {hour} * * {day}"
    return f"{minute} {hour} {day} * *"


def _with_offset(fmt: str) -> str:
    return fmt if "%z" in fmt else fmt + "%z"


def _is_second_ambiguous(moment: dt.datetime) -> bool:
    if moment.fold == 0:
        return False
    first = moment.replace(fold=0).utcoffset()
    second = moment.utcoffset()
    return first is not None and second is not None and first > second


def _parse(text: str, tz: dt.tzinfo, fmt: str) -> dt.datetime:
    """A key (or a start/end string) in `fmt`, perhaps with the UTC offset appended."""
    try:
        parsed = dt.datetime.strptime(text, fmt)
    except ValueError:
        parsed = dt.datetime.strptime(text, _with_offset(fmt))
    if parsed.tzinfo is not None:
        return dt.datetime.fromtimestamp(parsed.timestamp(), tz)
    return parsed.replace(tzinfo=tz, fold=0)


def _bound_ts(value: dt.datetime | str | None, tz: dt.tzinfo, fmt: str, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        # As Dagster: the wall time is read in the definition's zone, whatever tzinfo it had.
        return value.replace(tzinfo=tz).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=tz).timestamp()
    if isinstance(value, str):
        try:
            return _parse(value, tz, fmt).timestamp()
        except ValueError:
            pass
        try:  # opgraph also takes an ISO date or time where `fmt` is finer (hourly)
            return dt.datetime.fromisoformat(value).replace(tzinfo=tz).timestamp()
        except ValueError:
            pass
    raise DefinitionError(
        f"{field} {value!r} is not a datetime or a string in the format {fmt!r} (or ISO 8601)"
    )


class TimeWindowPartitionsDefinition(PartitionsDefinition):
    """Partitions whose keys are the starts of windows between cron ticks."""

    def __init__(
        self,
        start: dt.datetime | str,
        fmt: str,
        end: dt.datetime | str | None = None,
        schedule_type: ScheduleType | None = None,
        timezone: str | None = None,
        end_offset: int = 0,
        minute_offset: int | None = None,
        hour_offset: int | None = None,
        day_offset: int | None = None,
        cron_schedule: str | None = None,
    ):
        self.timezone = timezone or "UTC"
        self._tz = get_timezone(self.timezone)
        if not isinstance(fmt, str) or not fmt:
            raise DefinitionError(f"fmt must be a strftime format string, got {fmt!r}")
        self.fmt = fmt
        if not isinstance(end_offset, int):
            raise DefinitionError(f"end_offset must be an integer, got {end_offset!r}")
        self.end_offset = end_offset
        if cron_schedule is not None:
            if schedule_type is not None or minute_offset or hour_offset or day_offset:
                raise DefinitionError(
                    "cron_schedule cannot be combined with minute_offset, hour_offset or "
                    "day_offset: put the offsets in the cron string"
                )
            self.cron_schedule = check_cron(cron_schedule)
        else:
            if schedule_type is None:
                raise DefinitionError("TimeWindowPartitionsDefinition needs a cron_schedule")
            for name, value, high in (
                ("minute_offset", minute_offset, 59),
                ("hour_offset", hour_offset, 23),
                ("day_offset", day_offset, 6 if schedule_type is ScheduleType.WEEKLY else 31),
            ):
                if value is not None and (not isinstance(value, int) or not 0 <= value <= high):
                    raise DefinitionError(
                        f"{name} must be an integer from 0 to {high}, got {value!r}"
                    )
            cron = cron_for(schedule_type, minute_offset or 0, hour_offset or 0, day_offset or 0)
            self.cron_schedule = check_cron(cron, "the partitions' cron schedule")
        start_ts = _bound_ts(start, self._tz, fmt, "start")
        if start_ts is None:
            raise DefinitionError("a time-window partitions definition needs a start date")
        self.start_timestamp: float = start_ts
        self.end_timestamp: float | None = _bound_ts(end, self._tz, fmt, "end")
        self._hourly = repeats_every_hour(self.cron_schedule)

    # -- the windows ------------------------------------------------------------------
    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_timestamp, self._tz)

    @property
    def end(self) -> dt.datetime | None:
        if self.end_timestamp is None:
            return None
        return dt.datetime.fromtimestamp(self.end_timestamp, self._tz)

    def _windows(self, from_ts: float) -> Iterator[TimeWindow]:
        """Windows whose start is the first tick at or after `from_ts`, then onwards."""
        ticks = iterate_ticks(self.cron_schedule, self.timezone, from_ts)
        previous = next(ticks)
        for tick in ticks:
            yield TimeWindow(previous, tick)
            previous = tick

    def _now_ts(self, current_time: dt.datetime | None) -> float:
        if current_time is None:
            return dt.datetime.now(dt.UTC).timestamp()
        if current_time.tzinfo is None:
            return current_time.replace(tzinfo=self._tz).timestamp()
        return current_time.timestamp()

    def format_key(self, moment: dt.datetime) -> str:
        if "%z" not in self.fmt and self._hourly and _is_second_ambiguous(moment):
            return moment.strftime(_with_offset(self.fmt))
        return moment.strftime(self.fmt)

    def _included_windows(self, current_time: dt.datetime | None) -> list[TimeWindow]:
        now = self._now_ts(current_time)
        windows: list[TimeWindow] = []
        past_now = 0
        for window in self._windows(self.start_timestamp):
            end_ts = window.end.timestamp()
            if self.end_timestamp is not None and end_ts > self.end_timestamp:
                break
            if end_ts <= now:
                windows.append(window)
            elif past_now < self.end_offset:
                windows.append(window)
                past_now += 1
            else:
                break
        if self.end_offset < 0:
            windows = windows[: self.end_offset]
        return windows

    def get_partition_keys(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        # The keys change only when a window ends, i.e. at a tick: they are cached by the
        # last tick at or before now (10,000 daily keys took 150 ms to list; a status bar
        # or a backfill launch lists them on every request).
        now = self._now_ts(current_time)
        back = iterate_ticks(self.cron_schedule, self.timezone, now, ascending=False)
        return list(_keys_as_of(self, next(back).timestamp()))

    def get_first_partition_window(
        self, current_time: dt.datetime | None = None
    ) -> TimeWindow | None:
        first = next(iter(self._windows(self.start_timestamp)))
        if self.end_timestamp is not None and first.end.timestamp() > self.end_timestamp:
            return None
        if self.end_offset == 0:
            return first if first.end.timestamp() <= self._now_ts(current_time) else None
        windows = self._included_windows(current_time)
        return windows[0] if windows else None

    def get_last_partition_window(
        self, current_time: dt.datetime | None = None
    ) -> TimeWindow | None:
        if self.end_offset == 0:
            # The last window ending by min(now, end): found walking back, not from start.
            bound = self._now_ts(current_time)
            if self.end_timestamp is not None:
                bound = min(bound, self.end_timestamp)
            back = iterate_ticks(self.cron_schedule, self.timezone, bound, ascending=False)
            end = next(back)
            start = next(back)
            first = self.get_first_partition_window(current_time)
            if first is None or start.timestamp() < first.start.timestamp():
                return None
            return TimeWindow(start, end)
        windows = self._included_windows(current_time)
        return windows[-1] if windows else None

    def get_first_partition_key(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> str | None:
        window = self.get_first_partition_window(current_time)
        return self.format_key(window.start) if window else None

    def get_last_partition_key(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> str | None:
        window = self.get_last_partition_window(current_time)
        return self.format_key(window.start) if window else None

    # -- keys and windows ---------------------------------------------------------------
    def _parse_key(self, partition_key: str) -> dt.datetime:
        try:
            return _parse(partition_key, self._tz, self.fmt)
        except (ValueError, TypeError) as exc:
            raise PartitionKeyError(
                f"partition key {partition_key!r} is not a time in the format {self.fmt!r} "
                f"of {self}"
            ) from exc

    @functools.lru_cache(maxsize=256)  # noqa: B019 (definitions live as long as the process)
    def time_window_for_partition_key(self, partition_key: str) -> TimeWindow:
        return next(iter(self._windows(self._parse_key(partition_key).timestamp())))

    def start_time_for_partition_key(self, partition_key: str) -> dt.datetime:
        return self.time_window_for_partition_key(partition_key).start

    def end_time_for_partition_key(self, partition_key: str) -> dt.datetime:
        return self.time_window_for_partition_key(partition_key).end

    def time_windows_for_partition_keys(self, partition_keys: Sequence[str]) -> list[TimeWindow]:
        return [self.time_window_for_partition_key(k) for k in partition_keys]

    def get_partition_keys_in_time_window(self, time_window: TimeWindow) -> list[str]:
        """Keys of the windows that start in [time_window.start, time_window.end)."""
        end = time_window.end.timestamp()
        keys: list[str] = []
        for window in self._windows(time_window.start.timestamp()):
            if window.start.timestamp() >= end:
                break
            keys.append(self.format_key(window.start))
        return keys

    def get_partition_keys_in_range(
        self,
        partition_key_range: PartitionKeyRange,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        start = self.start_time_for_partition_key(partition_key_range.start)
        if start.timestamp() < self.start_timestamp:
            raise PartitionKeyError(
                f"partition key range start {partition_key_range.start!r} is before the "
                f"first partition of {self}"
            )
        end = self.end_time_for_partition_key(partition_key_range.end)
        if self.end_timestamp is not None and end.timestamp() > self.end_timestamp:
            raise PartitionKeyError(
                f"partition key range end {partition_key_range.end!r} is after the last "
                f"partition of {self}"
            )
        if end.timestamp() <= start.timestamp():
            raise PartitionKeyError(
                f"partition key range {partition_key_range.start!r}...{partition_key_range.end!r} "
                "is backwards"
            )
        return self.get_partition_keys_in_time_window(TimeWindow(start, end))

    def get_partition_key_range_for_time_window(self, time_window: TimeWindow) -> PartitionKeyRange:
        keys = self.get_partition_keys_in_time_window(time_window)
        if not keys:
            raise PartitionKeyError(f"no partition of {self} starts in {time_window}")
        return PartitionKeyRange(keys[0], keys[-1])

    def get_partition_key_for_timestamp(self, timestamp: float, end_closed: bool = False) -> str:
        """The key of the window holding `timestamp` (with `end_closed`, a timestamp on a
        tick belongs to the window that ends there)."""
        back = iterate_ticks(self.cron_schedule, self.timezone, timestamp, ascending=False)
        tick = next(back)
        if end_closed and tick.timestamp() == timestamp:
            tick = next(back)
        return self.format_key(tick)

    def has_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> bool:
        try:
            start = self.start_time_for_partition_key(partition_key)
        except PartitionKeyError:
            return False
        first = self.get_first_partition_window(current_time)
        last = self.get_last_partition_window(current_time)
        return (
            first is not None
            and last is not None
            and first.start.timestamp() <= start.timestamp() <= last.start.timestamp()
            and self.format_key(start) == partition_key
        )

    # -- the cadence --------------------------------------------------------------------
    @property
    def schedule_type(self) -> ScheduleType | None:
        cron = self.cron_schedule
        if re.fullmatch(r"\d+ \* \* \* \*", cron):
            return ScheduleType.HOURLY
        if re.fullmatch(r"\d+ \d+ \* \* \*", cron):
            return ScheduleType.DAILY
        if re.fullmatch(r"\d+ \d+ \* \* \d+", cron):
            return ScheduleType.WEEKLY
        if re.fullmatch(r"\d+ \d+ \d+ \* \*", cron):
            return ScheduleType.MONTHLY
        return None

    def _field(self, index: int) -> int:
        value = self.cron_schedule.split()[index]
        if not value.isdigit():
            raise DefinitionError(
                f"cron schedule {self.cron_schedule!r} has no fixed field {index}"
            )
        return int(value)

    @property
    def minute_offset(self) -> int:
        return self._field(0)

    @property
    def hour_offset(self) -> int:
        return self._field(1)

    @property
    def day_offset(self) -> int:
        kind = self.schedule_type
        if kind is ScheduleType.WEEKLY:
            return self._field(4)
        if kind is ScheduleType.MONTHLY:
            return self._field(2)
        raise DefinitionError(f"{self} has no day offset (only weekly and monthly ones do)")

    def get_cron_schedule(
        self,
        minute_of_hour: int | None = None,
        hour_of_day: int | None = None,
        day_of_week: int | None = None,
        day_of_month: int | None = None,
    ) -> str:
        """The partitions' cadence, perhaps at another minute/hour/day (a schedule that
        fills each day's partition at 02:00, say)."""
        if all(v is None for v in (minute_of_hour, hour_of_day, day_of_week, day_of_month)):
            return self.cron_schedule
        kind = self.schedule_type
        if kind is None:
            raise DefinitionError(
                f"cron schedule {self.cron_schedule!r} takes no minute_of_hour, hour_of_day, "
                "day_of_week or day_of_month"
            )
        if kind is ScheduleType.HOURLY and hour_of_day is not None:
            raise DefinitionError("hour_of_day cannot be set for hourly partitions")
        if kind is ScheduleType.DAILY and (day_of_week is not None or day_of_month is not None):
            raise DefinitionError("day_of_week and day_of_month cannot be set for daily partitions")
        minute = self.minute_offset if minute_of_hour is None else minute_of_hour
        hour = (
            0
            if kind is ScheduleType.HOURLY
            else (self.hour_offset if hour_of_day is None else hour_of_day)
        )
        if kind is ScheduleType.MONTHLY:
            day = day_of_month if day_of_month is not None else (self.day_offset or 1)
        elif kind is ScheduleType.WEEKLY:
            day = day_of_week if day_of_week is not None else self.day_offset
        else:
            day = 0
        return cron_for(kind, minute, hour, day)

    # -- identity -----------------------------------------------------------------------
    def _identity(self) -> tuple[object, ...]:
        return (
            self.start_timestamp,
            self.end_timestamp,
            self.timezone,
            self.fmt,
            self.end_offset,
            self.cron_schedule,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TimeWindowPartitionsDefinition)
            and self._identity() == other._identity()
        )

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(start={self.start.isoformat()!r}, end="
            f"{self.end.isoformat() if self.end else None!r}, timezone={self.timezone!r}, "
            f"fmt={self.fmt!r}, end_offset={self.end_offset}, cron_schedule={self.cron_schedule!r})"
        )

    __str__ = __repr__


@functools.lru_cache(maxsize=64)
def _keys_as_of(
    partitions_def: TimeWindowPartitionsDefinition, last_tick: float
) -> tuple[str, ...]:
    # Definitions are compared by value: one rebuilt from a snapshot hits the same entry.
    now = dt.datetime.fromtimestamp(last_tick, dt.UTC)
    return tuple(partitions_def.format_key(w.start) for w in partitions_def._included_windows(now))


class HourlyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """One partition an hour, keys `%Y-%m-%d-%H:%M` by default."""

    def __init__(
        self,
        start_date: dt.datetime | str,
        end_date: dt.datetime | str | None = None,
        minute_offset: int = 0,
        timezone: str | None = None,
        fmt: str | None = None,
        end_offset: int = 0,
    ):
        super().__init__(
            start=start_date,
            end=end_date,
            fmt=fmt or DEFAULT_HOURLY_FORMAT_WITHOUT_TIMEZONE,
            schedule_type=ScheduleType.HOURLY,
            timezone=timezone,
            end_offset=end_offset,
            minute_offset=minute_offset,
        )


class DailyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """One partition a day, keys `%Y-%m-%d` by default."""

    def __init__(
        self,
        start_date: dt.datetime | str,
        end_date: dt.datetime | str | None = None,
        minute_offset: int = 0,
        hour_offset: int = 0,
        timezone: str | None = None,
        fmt: str | None = None,
        end_offset: int = 0,
    ):
        super().__init__(
            start=start_date,
            end=end_date,
            fmt=fmt or DEFAULT_DATE_FORMAT,
            schedule_type=ScheduleType.DAILY,
            timezone=timezone,
            end_offset=end_offset,
            minute_offset=minute_offset,
            hour_offset=hour_offset,
        )


class WeeklyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """One partition a week, starting on `day_offset` (0 is Sunday)."""

    def __init__(
        self,
        start_date: dt.datetime | str,
        end_date: dt.datetime | str | None = None,
        minute_offset: int = 0,
        hour_offset: int = 0,
        day_offset: int = 0,
        timezone: str | None = None,
        fmt: str | None = None,
        end_offset: int = 0,
    ):
        super().__init__(
            start=start_date,
            end=end_date,
            fmt=fmt or DEFAULT_DATE_FORMAT,
            schedule_type=ScheduleType.WEEKLY,
            timezone=timezone,
            end_offset=end_offset,
            minute_offset=minute_offset,
            hour_offset=hour_offset,
            day_offset=day_offset,
        )


class MonthlyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """One partition a month, starting on day `day_offset` (default the 1st)."""

    def __init__(
        self,
        start_date: dt.datetime | str,
        end_date: dt.datetime | str | None = None,
        minute_offset: int = 0,
        hour_offset: int = 0,
        day_offset: int = 1,
        timezone: str | None = None,
        fmt: str | None = None,
        end_offset: int = 0,
    ):
        super().__init__(
            start=start_date,
            end=end_date,
            fmt=fmt or DEFAULT_DATE_FORMAT,
            schedule_type=ScheduleType.MONTHLY,
            timezone=timezone,
            end_offset=end_offset,
            minute_offset=minute_offset,
            hour_offset=hour_offset,
            day_offset=day_offset,
        )
