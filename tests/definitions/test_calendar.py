"""The working-day calendar: Vietnam's days off, swapped days, overrides and deadline instants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from definitions.calendar import (
    TIMEZONE,
    WorkingCalendar,
    deadline_instant,
    default_calendar,
    load_overrides,
    local_date,
    start_of_day,
)

D = dt.date


def test_weekends_and_weekdays() -> None:
    calendar = WorkingCalendar()
    assert calendar.is_working_day(D(2024, 3, 1))  # a Friday
    assert not calendar.is_working_day(D(2024, 3, 2))  # Saturday
    assert not calendar.is_working_day(D(2024, 3, 3))  # Sunday


def test_national_day_and_tet_are_days_off() -> None:
    calendar = WorkingCalendar()
    assert not calendar.is_working_day(D(2024, 9, 2))  # Quốc khánh, a Monday
    assert not calendar.is_working_day(D(2024, 9, 3))  # the day added to it
    assert not calendar.is_working_day(D(2025, 9, 2))
    # Tết Giáp Thìn: 8–14/2/2024 off, back to work on Thursday 15/2
    for day in range(8, 15):
        assert not calendar.is_working_day(D(2024, 2, day)), day
    assert calendar.is_working_day(D(2024, 2, 7))
    assert calendar.is_working_day(D(2024, 2, 15))
    assert not calendar.is_working_day(D(2024, 1, 1))
    assert not calendar.is_working_day(D(2024, 4, 30))
    assert not calendar.is_working_day(D(2024, 5, 1))
    assert calendar.holiday_name(D(2024, 9, 2)) is not None
    assert calendar.holiday_name(D(2024, 3, 1)) is None


def test_the_swapped_saturday_of_2024_is_a_working_day() -> None:
    calendar = WorkingCalendar()
    # Monday 29/4/2024 was taken off in exchange for working Saturday 4/5/2024
    assert not calendar.is_working_day(D(2024, 4, 29))
    assert calendar.is_working_day(D(2024, 5, 4))
    assert not calendar.is_working_day(D(2024, 5, 11))  # an ordinary Saturday


def test_add_working_days_across_a_weekend_and_across_tet() -> None:
    calendar = WorkingCalendar()
    assert calendar.add_working_days(D(2024, 3, 1), 0) == D(2024, 3, 1)
    assert calendar.add_working_days(D(2024, 3, 1), 1) == D(2024, 3, 4)  # Fri → Mon
    assert calendar.add_working_days(D(2024, 3, 1), 5) == D(2024, 3, 8)
    assert calendar.add_working_days(D(2024, 2, 7), 1) == D(2024, 2, 15)  # over Tết
    assert calendar.add_working_days(D(2024, 2, 15), -1) == D(2024, 2, 7)
    assert calendar.add_working_days(D(2024, 3, 4), -1) == D(2024, 3, 1)
    # counted from a day off, the first working day after it is day 1
    assert calendar.add_working_days(D(2024, 3, 2), 1) == D(2024, 3, 4)
    # across the 2024 swap: Sat 4/5 counts, Mon 29/4 does not
    assert calendar.add_working_days(D(2024, 4, 26), 1) == D(2024, 5, 2)
    assert calendar.add_working_days(D(2024, 5, 3), 1) == D(2024, 5, 4)


def test_roll_forward_moves_a_day_off_to_the_next_working_day() -> None:
    calendar = WorkingCalendar()
    assert calendar.roll_forward(D(2024, 11, 29)) == D(2024, 11, 29)
    assert calendar.roll_forward(D(2024, 11, 30)) == D(2024, 12, 2)  # Saturday
    assert calendar.roll_forward(D(2024, 2, 10)) == D(2024, 2, 15)  # Tết
    assert calendar.roll_forward(D(2024, 8, 31)) == D(2024, 9, 4)  # Sat, Sun, 2/9, 3/9


def test_shift_in_calendar_days_ignores_days_off() -> None:
    calendar = WorkingCalendar()
    assert calendar.shift(D(2024, 2, 7), 3, working=False) == D(2024, 2, 10)
    assert calendar.shift(D(2024, 2, 7), 3, working=True) == D(2024, 2, 19)


def test_overrides_take_effect() -> None:
    plain = WorkingCalendar()
    tuesday, saturday = D(2024, 3, 5), D(2024, 3, 9)
    assert plain.is_working_day(tuesday) and not plain.is_working_day(saturday)
    swapped = WorkingCalendar(days_off=[tuesday], working_days=[saturday])
    assert not swapped.is_working_day(tuesday)
    assert swapped.is_working_day(saturday)
    assert swapped.add_working_days(D(2024, 3, 4), 1) == D(2024, 3, 6)
    assert swapped.roll_forward(saturday) == saturday
    # a working_days entry wins over a holiday too
    assert WorkingCalendar(working_days=[D(2024, 9, 2)]).is_working_day(D(2024, 9, 2))


def test_overrides_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "vn.yaml"
    path.write_text("days_off: [2024-03-05]\nworking_days: [2024-03-09]\n", encoding="utf-8")
    overrides = load_overrides(path)
    assert overrides.days_off == (D(2024, 3, 5),)
    assert overrides.working_days == (D(2024, 3, 9),)
    assert load_overrides(tmp_path / "absent.yaml").days_off == ()


def test_the_packaged_overrides_file_loads() -> None:
    overrides = load_overrides()
    calendar = default_calendar()
    for day in overrides.days_off:
        assert not calendar.is_working_day(day)
    for day in overrides.working_days:
        assert calendar.is_working_day(day)


def test_deadline_instants_are_in_ho_chi_minh_time() -> None:
    assert str(TIMEZONE) == "Asia/Ho_Chi_Minh"
    start = start_of_day(D(2024, 12, 2))
    assert start.utcoffset() == dt.timedelta(hours=7)
    assert start.astimezone(dt.UTC) == dt.datetime(2024, 12, 1, 17, 0, tzinfo=dt.UTC)
    # a report due "by 2/12" is late from 00:00 on 3/12, Hanoi time
    assert deadline_instant(D(2024, 12, 2)) == start_of_day(D(2024, 12, 3))
    late_evening_utc = dt.datetime(2024, 12, 2, 16, 59, tzinfo=dt.UTC)  # 23:59 in Vietnam
    assert local_date(late_evening_utc) == D(2024, 12, 2)
    assert late_evening_utc < deadline_instant(D(2024, 12, 2))
    assert local_date(dt.datetime(2024, 12, 2, 17, 0, tzinfo=dt.UTC)) == D(2024, 12, 3)


def _walk(calendar: WorkingCalendar, day: dt.date, count: int) -> dt.date:
    """The definition of "the count-th working day after": one day at a time."""
    step = 1 if count >= 0 else -1
    remaining, current = abs(count), day
    while remaining:
        current += dt.timedelta(days=step)
        if calendar.is_working_day(current):
            remaining -= 1
    return current


@given(
    day=st.dates(min_value=D(2015, 1, 1), max_value=D(2040, 12, 31)),
    count=st.integers(min_value=-400, max_value=400),
)
@settings(max_examples=300, deadline=None)
def test_indexed_arithmetic_agrees_with_walking_the_days(day: dt.date, count: int) -> None:
    calendar = default_calendar()
    assert calendar.add_working_days(day, count) == _walk(calendar, day, count)
    rolled = calendar.roll_forward(day)
    assert calendar.is_working_day(rolled) and rolled >= day
    assert all(
        not calendar.is_working_day(day + dt.timedelta(days=n)) for n in range((rolled - day).days)
    )


def test_counting_across_years_indexes_them_as_it_goes() -> None:
    calendar = WorkingCalendar()
    # from 2024 back into 2023 and forward into 2026, each year indexed on first use
    assert calendar.add_working_days(D(2024, 1, 2), -1) == D(2023, 12, 29)  # 1/1 is Tết Dương lịch
    assert calendar.add_working_days(D(2024, 1, 2), 600) == _walk(calendar, D(2024, 1, 2), 600)
    assert calendar.add_working_days(D(2026, 1, 2), -600) == _walk(calendar, D(2026, 1, 2), -600)
    # an override on a year indexed later still counts
    swapped = WorkingCalendar(working_days=[D(2030, 3, 9)])
    assert swapped.add_working_days(D(2024, 3, 4), 0) == D(2024, 3, 4)
    assert swapped.add_working_days(D(2030, 3, 8), 1) == D(2030, 3, 9)
