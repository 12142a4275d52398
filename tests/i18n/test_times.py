"""Times people read are Vietnam's clock, `dd/mm/yyyy HH:MM`; machines get ISO 8601 with offset."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from i18n import times

# 20:30 UTC on 1 December is 03:30 on 2 December in Vietnam: the dates differ.
EVENING_UTC = dt.datetime(2026, 12, 1, 20, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_person_reads_the_date_and_time_in_vietnam(lang: str) -> None:
    assert times.person_time(EVENING_UTC, lang) == "02/12/2026 03:30"
    assert times.person_date(EVENING_UTC, lang) == "02/12/2026"
    assert times.person_date(dt.date(2023, 6, 7), lang) == "07/06/2023"


def test_a_machine_reads_iso_8601_with_the_offset() -> None:
    assert times.machine_time(EVENING_UTC) == "2026-12-02T03:30:00+07:00"
    assert dt.datetime.fromisoformat(times.machine_time(EVENING_UTC) or "") == EVENING_UTC
    assert times.machine_time(None) is None


def test_a_naive_time_is_refused_not_guessed() -> None:
    with pytest.raises(times.NaiveTime, match="no time zone"):
        times.person_time(dt.datetime(2026, 12, 1, 20, 30))


def test_a_typed_moment_without_offset_is_vietnam_time() -> None:
    assert times.parse_moment("2023-11-29T12:00") == dt.datetime(
        2023, 11, 29, 5, 0, tzinfo=dt.UTC
    )
    assert times.parse_moment("2023-11-29T12:00+00:00").hour == 12


@given(
    st.datetimes(
        min_value=dt.datetime(1976, 1, 1), max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    )
)
def test_every_instant_round_trips_through_its_machine_form(moment: dt.datetime) -> None:
    # (Vietnam has kept +07:00 since 1975; before, its offsets varied)
    text = times.machine_time(moment)
    assert text is not None and text.endswith("+07:00")
    assert dt.datetime.fromisoformat(text) == moment
    shown = times.person_time(moment)
    assert dt.datetime.strptime(shown, times.TIME_FORMAT).replace(
        tzinfo=times.TIMEZONE
    ) == times.local(moment).replace(second=0, microsecond=0)
