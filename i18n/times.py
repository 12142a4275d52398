"""Times people read, and times machines read: one module for every face.

People read Asia/Ho_Chi_Minh: `dd/mm/yyyy HH:MM`, dates `dd/mm/yyyy`, in either language
(the words around them come from the catalogue). Machines (JSON, CSV, Prefect parameters)
read ISO 8601 with the offset. A naive datetime is refused: every moment chidao handles is
aware, and guessing its zone is how a UTC time ends up printed as local.

Dates written in documents (Decree 30/2020 style, `20/6/2023`) stay with notifications.render.
"""

from __future__ import annotations

import datetime as dt
from typing import Final
from zoneinfo import ZoneInfo

TIMEZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT: Final = "%d/%m/%Y"
TIME_FORMAT: Final = "%d/%m/%Y %H:%M"


class NaiveTime(ValueError):
    """A datetime without a time zone, where an instant was needed."""


def local(moment: dt.datetime) -> dt.datetime:
    """The same instant on the clock in Vietnam."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTime(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(TIMEZONE)


def local_date(moment: dt.datetime) -> dt.date:
    return local(moment).date()


def person_time(moment: dt.datetime | None, lang: str = "vi", empty: str = "") -> str:
    """`02/12/2026 00:41` for 2026-12-01T17:41Z (`lang` kept for formats that differ)."""
    if moment is None:
        return empty
    return local(moment).strftime(TIME_FORMAT)


def person_date(day: dt.date | dt.datetime | None, lang: str = "vi", empty: str = "") -> str:
    """`02/12/2026`; a datetime gives its date in Vietnam."""
    if day is None:
        return empty
    if isinstance(day, dt.datetime):
        day = local_date(day)
    return day.strftime(DATE_FORMAT)


def machine_time(moment: dt.datetime | None) -> str | None:
    """ISO 8601 with the offset, in Vietnam's (`2026-12-02T00:41:00+07:00`)."""
    if moment is None:
        return None
    return local(moment).isoformat()


def parse_moment(text: str) -> dt.datetime:
    """An ISO date or date-time; without an offset it is a time in Vietnam."""
    moment = dt.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)
