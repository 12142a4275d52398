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
import importlib
import sys
import types
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, ValidationError

from definitions.errors import DefinitionError, Problem
from definitions.yaml_reader import key_position_of, position_of, read_yaml

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR_FILE = Path(__file__).parent / "calendar" / "vn.yaml"


class CalendarOverrides(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days_off: tuple[dt.date, ...] = ()
    working_days: tuple[dt.date, ...] = ()


def _vietnam() -> type[holidays.HolidayBase]:
    """The `holidays` class for Vietnam, loaded without loading every other country.

    `holidays.VN` imports the package `holidays.countries`, whose `__init__` imports all ~250
    countries (about 0.3 s, most of `chidao validate`'s time). Vietnam's module needs none of
    them, so it is imported under a bare stand-in for that package, which is then removed so a
    later `import holidays.countries` runs the real one. Any surprise falls back to `holidays.VN`.
    """
    if "holidays.countries" in sys.modules:
        return holidays.VN
    stand_in = types.ModuleType("holidays.countries")
    stand_in.__path__ = [str(Path(holidays.__file__).parent / "countries")]
    sys.modules["holidays.countries"] = stand_in
    try:
        module = importlib.import_module("holidays.countries.vietnam")
        return module.Vietnam
    except Exception:  # a `holidays` laid out otherwise: the ordinary, slower way
        sys.modules.pop("holidays.countries.vietnam", None)
        return holidays.VN
    finally:
        if sys.modules.get("holidays.countries") is stand_in:
            del sys.modules["holidays.countries"]


class WorkingCalendar:
    """Answers whether a date is a working day and counts working days.

    Each year is indexed once, the first time a date of it is asked about: its working days
    as a sorted array of ordinals, so "the N-th working day after" is a bisection and an
    index step, not a walk through the days with a holiday lookup for each.
    """

    def __init__(
        self,
        days_off: Iterable[dt.date] = (),
        working_days: Iterable[dt.date] = (),
    ) -> None:
        self._extra_off = frozenset(days_off)
        self._extra_working = frozenset(working_days)
        # expand=True fills each year the first time a date of it is looked up
        self._holidays = _vietnam()(expand=True)
        # the indexed years form one contiguous span [_first_year, _last_year]
        self._first_year = 0
        self._last_year = -1
        self._ordinals: list[int] = []  # ordinals of every working day of the span, sorted
        self._working: set[int] = set()

    @property
    def fingerprint(self) -> str:
        """What the days it counts depend on (the holidays library's version and the
        overrides), hashed: what is planned on it is kept with this, and re-planned when a
        new version of either changes it."""
        import hashlib

        basis = "|".join(
            [
                str(getattr(holidays, "__version__", "")),
                ",".join(sorted(d.isoformat() for d in self._extra_off)),
                ",".join(sorted(d.isoformat() for d in self._extra_working)),
            ]
        )
        return hashlib.sha256(basis.encode()).hexdigest()[:16]

    def holiday_name(self, day: dt.date) -> str | None:
        name = self._holidays.get(day)
        return str(name) if name else None

    def _is_working_uncached(self, day: dt.date) -> bool:
        if day in self._extra_working:
            return True
        if day in self._extra_off:
            return False
        is_holiday = day in self._holidays  # also fills weekend_workdays for the year
        if day in self._holidays.weekend_workdays:
            return True
        return day.weekday() < 5 and not is_holiday

    def _year_ordinals(self, year: int) -> list[int]:
        first = dt.date(year, 1, 1).toordinal()
        last = dt.date(year, 12, 31).toordinal()
        return [
            o for o in range(first, last + 1) if self._is_working_uncached(dt.date.fromordinal(o))
        ]

    def _cover(self, year: int) -> None:
        """Index every year from the span's edge through `year`."""
        year = min(max(year, dt.MINYEAR), dt.MAXYEAR)
        if self._last_year < self._first_year:
            self._first_year = self._last_year = year
            self._ordinals = self._year_ordinals(year)
        while year > self._last_year:
            self._last_year += 1
            self._ordinals.extend(self._year_ordinals(self._last_year))
        while year < self._first_year:
            self._first_year -= 1
            self._ordinals[:0] = self._year_ordinals(self._first_year)
        self._working = set(self._ordinals)

    def is_working_day(self, day: dt.date) -> bool:
        if not self._first_year <= day.year <= self._last_year:
            self._cover(day.year)
        return day.toordinal() in self._working

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `day` (before it when negative); `day` itself if 0."""
        if count == 0:
            return day
        if not self._first_year <= day.year <= self._last_year:
            self._cover(day.year)
        ordinal = day.toordinal()
        while True:
            if count > 0:
                # working days up to and including `day`, so the next one is at that index
                index = bisect_right(self._ordinals, ordinal) + count - 1
                if index < len(self._ordinals):
                    return dt.date.fromordinal(self._ordinals[index])
                if self._last_year >= dt.MAXYEAR:
                    raise OverflowError("no working day that far ahead")
                self._cover(self._last_year + 1)
            else:
                index = bisect_left(self._ordinals, ordinal) + count
                if index >= 0:
                    return dt.date.fromordinal(self._ordinals[index])
                if self._first_year <= dt.MINYEAR:
                    raise OverflowError("no working day that far back")
                self._cover(self._first_year - 1)

    def roll_forward(self, day: dt.date) -> dt.date:
        """`day` if it is a working day, else the next working day."""
        if self.is_working_day(day):
            return day
        return self.add_working_days(day, 1)

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
    """The swaps and extra days off of `path` (none if it is absent or empty).

    Read strictly like a definition; a malformed file raises DefinitionError with every
    problem as `file:line:col: path: message`.
    """
    if not path.exists():
        return CalendarOverrides()
    data, positions = read_yaml(path, allow_empty=True)
    if data is None:
        return CalendarOverrides()
    file = str(path)
    if not isinstance(data, dict):
        raise DefinitionError(
            [Problem(file, 1, 1, "", "expected a mapping with days_off and working_days")]
        )
    try:
        return CalendarOverrides.model_validate(data)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden":
                line, column = key_position_of(positions, loc)
                message = f"unknown key (expected {' or '.join(CalendarOverrides.model_fields)})"
            else:
                line, column = position_of(positions, loc)
                message = error["msg"]
            problems.append(Problem(file, line, column, ".".join(str(p) for p in loc), message))
        raise DefinitionError(problems) from e


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    overrides = load_overrides()
    return WorkingCalendar(overrides.days_off, overrides.working_days)
