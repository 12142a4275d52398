"""The working-day calendar of Vietnam and the deadline arithmetic built on it.

Working days are Monday to Friday, less the official holidays and their substitute days
(from the `holidays` package), plus the official swapped Saturdays it knows; a year's
further swaps and days off can be added in data (`definitions/calendar/vn.yaml`).

A deadline is a date in Asia/Ho_Chi_Minh. `trước ngày 30/11` is read as "by the end of
30/11". A deadline that falls on a day off moves to the end of the next working day, as
the Civil Code (Bộ luật Dân sự 2015, Điều 148) rules for the last day of a period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import yaml
from pydantic import BaseModel, ConfigDict

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR_FILE = Path(__file__).parent / "calendar" / "vn.yaml"


class CalendarOverrides(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days_off: tuple[dt.date, ...] = ()
    working_days: tuple[dt.date, ...] = ()


class WorkingCalendar:
    """Answers whether a date is a working day and counts working days."""

    def __init__(
        self,
        days_off: Iterable[dt.date] = (),
        working_days: Iterable[dt.date] = (),
    ) -> None:
        self._extra_off = frozenset(days_off)
        self._extra_working = frozenset(working_days)
        # expand=True fills each year the first time a date of it is looked up
        self._holidays = holidays.VN(expand=True)

    def holiday_name(self, day: dt.date) -> str | None:
        name = self._holidays.get(day)
        return str(name) if name else None

    def is_working_day(self, day: dt.date) -> bool:
        if day in self._extra_working:
            return True
        if day in self._extra_off:
            return False
        is_holiday = day in self._holidays  # also fills weekend_workdays for the year
        if day in self._holidays.weekend_workdays:
            return True
        return day.weekday() < 5 and not is_holiday

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `day` (before it when negative); `day` itself if 0."""
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        current = day
        while remaining:
            current += dt.timedelta(days=step)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def roll_forward(self, day: dt.date) -> dt.date:
        """`day` if it is a working day, else the next working day."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def shift(self, day: dt.date, count: int, *, working: bool) -> dt.date:
        if working:
            return self.add_working_days(day, count)
        return day + dt.timedelta(days=count)


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 of `day` in Asia/Ho_Chi_Minh."""
    return dt.datetime.combine(day, dt.time(), tzinfo=TIMEZONE)


def deadline_instant(day: dt.date) -> dt.datetime:
    """The first instant after a deadline day: a report at or after it is late."""
    return start_of_day(day + dt.timedelta(days=1))


def local_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(TIMEZONE).date()


def load_overrides(path: Path = CALENDAR_FILE) -> CalendarOverrides:
    if not path.exists():
        return CalendarOverrides()
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return CalendarOverrides.model_validate(data)


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    overrides = load_overrides()
    return WorkingCalendar(overrides.days_off, overrides.working_days)
