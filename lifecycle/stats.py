"""The province's figures: the four-way count of reporting duties over a period. Pure.

What is counted (`duties(state)`): one duty per tracked agency per cycle (its report), and,
apart, one per cycle for the consolidating department (its consolidated report). Items are
not counted. A duty is in a period when its due date (after any extension granted) falls in
it; a withdrawn task is not counted. Its standing is judged at `as_of`: the end of the
period's last day for a past period, `now` (passed in) for the current one.

Explanations asked of an agency about a duty (and answered) are counted with it.

Days late are calendar days from the due date to the day the report came (for one completed
late) or to the `as_of` day (for one still open and overdue), with the working days in that
span beside them.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from definitions.calendar import WorkingCalendar, deadline_instant, local_date
from lifecycle.state import DirectiveState, Explanation

DutyKind = Literal["report", "consolidation"]
FOUR = ("completed_on_time", "completed_late", "open_within", "open_overdue")
GroupBy = Literal["agency", "directive", "month"]


class StatsError(ValueError):
    """A period or a filter the statistics cannot be computed for."""


@dataclass(frozen=True)
class Duty:
    """One reporting duty: an agency's report in a cycle, or the cycle's consolidated report."""

    directive: str
    cycle: str
    agency: str
    kind: DutyKind
    due: dt.date  # after any extension granted
    completed_at: dt.datetime | None
    escalation_level: int
    extensions_asked: int
    extensions_granted: int
    explanations: tuple[Explanation, ...] = ()

    @property
    def explanations_asked(self) -> int:
        return len(self.explanations)

    @property
    def explanations_answered(self) -> int:
        return sum(1 for x in self.explanations if x.answered)


def duties(state: DirectiveState) -> list[Duty]:
    """Every duty of the directive (withdrawn tasks left out)."""
    if state.resolved is None:
        return []
    found: list[Duty] = []
    consolidator = state.resolved.consolidator
    for cycle in state.cycles.values():
        for work in cycle.works.values():
            if work.status == "withdrawn":
                continue
            found.append(
                Duty(
                    directive=state.id, cycle=cycle.id, agency=work.agency, kind="report",
                    due=work.due, completed_at=work.completed_at,
                    escalation_level=work.escalation_level,
                    extensions_asked=len(work.extensions),
                    extensions_granted=sum(1 for x in work.extensions if x.decision == "granted"),
                    explanations=tuple(work.explanations),
                )
            )  # fmt: skip
        if consolidator is not None and cycle.consolidation_due is not None:
            found.append(
                Duty(
                    directive=state.id, cycle=cycle.id, agency=consolidator,
                    kind="consolidation", due=cycle.consolidation_due,
                    completed_at=cycle.consolidated_at,
                    escalation_level=cycle.consolidation_escalation_level,
                    extensions_asked=0, extensions_granted=0,
                )
            )  # fmt: skip
    return found


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise StatsError(f"the period ends ({self.end}) before it starts ({self.start})")

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def as_of(self, now: dt.datetime) -> dt.datetime:
        """When standings are judged: the period's end if it is past, else `now`."""
        end = deadline_instant(self.end)
        return end if end <= now else now


def period_of(text: str) -> Period:
    """`2024-11`, `2024-Q4`, `2024-H2` or `2024` as the days it covers."""
    raw = text.strip().upper()
    try:
        if len(raw) == 4 and raw.isdigit():
            year = int(raw)
            return Period(dt.date(year, 1, 1), dt.date(year, 12, 31))
        year_text, _, part = raw.partition("-")
        year = int(year_text)
        if len(year_text) == 4 and part[:1] == "Q" and part[1:] in ("1", "2", "3", "4"):
            first = (int(part[1:]) - 1) * 3 + 1
            return Period(dt.date(year, first, 1), _month_end(year, first + 2))
        if len(year_text) == 4 and part in ("H1", "H2"):
            first = 1 if part == "H1" else 7
            return Period(dt.date(year, first, 1), _month_end(year, first + 5))
        if len(year_text) == 4 and part.isdigit() and 1 <= int(part) <= 12 and len(part) == 2:
            return Period(dt.date(year, int(part), 1), _month_end(year, int(part)))
    except ValueError:
        pass
    raise StatsError(f"{text!r} is not a period: give 2024-11, 2024-Q4, 2024-H2 or 2024")


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def standing_at(duty: Duty, as_of: dt.datetime) -> str:
    deadline = deadline_instant(duty.due)
    if duty.completed_at is not None and duty.completed_at <= as_of:
        return "completed_on_time" if duty.completed_at < deadline else "completed_late"
    return "open_within" if as_of < deadline else "open_overdue"


def days_late(duty: Duty, as_of: dt.datetime, calendar: WorkingCalendar) -> tuple[int, int]:
    """(calendar days, working days) from the due date to the report's day (or `as_of`'s)."""
    done = duty.completed_at
    # a period's end is the instant its last day ends (00:00 the day after): that last day
    until = local_date(
        done if done is not None and done <= as_of else as_of - dt.timedelta(microseconds=1)
    )
    days = (until - duty.due).days
    if days <= 0:
        return 0, 0
    working = sum(
        1 for n in range(1, days + 1) if calendar.is_working_day(duty.due + dt.timedelta(days=n))
    )
    return days, working


@dataclass
class Figures:
    """The counts of one group of duties."""

    key: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FOUR, 0))
    late_days: list[tuple[int, int]] = field(default_factory=list)
    extensions_asked: int = 0
    extensions_granted: int = 0
    explanations_asked: int = 0
    explanations_answered: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def on_time_rate(self) -> float | None:
        """Completed on time over every duty counted; None when none is."""
        return self.counts["completed_on_time"] / self.total if self.total else None

    def late(self, which: int, how: Callable[[list[int]], float]) -> float | None:
        values = [pair[which] for pair in self.late_days]
        return how(values) if values else None

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            **self.counts,
            "total": self.total,
            "on_time_rate": self.on_time_rate,
            "median_days_late": self.late(0, statistics.median),
            "max_days_late": self.late(0, max),
            "median_working_days_late": self.late(1, statistics.median),
            "max_working_days_late": self.late(1, max),
            "extensions_asked": self.extensions_asked,
            "extensions_granted": self.extensions_granted,
            "explanations_asked": self.explanations_asked,
            "explanations_answered": self.explanations_answered,
        }


def _key(duty: Duty, by: GroupBy) -> str:
    if by == "agency":
        return duty.agency
    if by == "directive":
        return duty.directive
    return f"{duty.due.year:04d}-{duty.due.month:02d}"


def tally(
    found: Iterable[Duty],
    period: Period,
    now: dt.datetime,
    calendar: WorkingCalendar,
    *,
    by: GroupBy = "agency",
    agency: str | None = None,
    directive: str | None = None,
) -> dict[DutyKind, list[Figures]]:
    """The figures per group for each kind of duty (reports, consolidated reports), sorted
    by on-time rate (best first), then key; a total row is `key == "*"`, first."""
    as_of = period.as_of(now)
    result: dict[DutyKind, list[Figures]] = {}
    kinds: tuple[DutyKind, ...] = ("report", "consolidation")
    for kind in kinds:
        groups: dict[str, Figures] = {}
        total = Figures("*")
        for duty in found:
            if duty.kind != kind or not period.contains(duty.due):
                continue
            if (agency and duty.agency != agency) or (directive and duty.directive != directive):
                continue
            key = _key(duty, by)
            for figures in (groups.setdefault(key, Figures(key)), total):
                standing = standing_at(duty, as_of)
                figures.counts[standing] += 1
                if standing in ("completed_late", "open_overdue"):
                    figures.late_days.append(days_late(duty, as_of, calendar))
                figures.extensions_asked += duty.extensions_asked
                figures.extensions_granted += duty.extensions_granted
                figures.explanations_asked += duty.explanations_asked
                figures.explanations_answered += duty.explanations_answered
        ranked = sorted(
            groups.values(),
            key=lambda f: (
                (-(f.on_time_rate or 0.0), -f.counts["completed_on_time"], f.key)
                if by != "month"
                else (0.0, 0, f.key)
            ),
        )
        result[kind] = [total, *ranked]
    return result
