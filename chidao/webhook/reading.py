"""What the dashboard and the operators' API read: the directives' duties, open ones first.

`states()` is the one place the views get the directives from: for now each directive's state
replayed from the ledger, as `chidao stats` reads them; when the works projection (one row
per directive, cycle and agency) lands, it is the function to switch. Everything else here is
pure: the duties (`lifecycle.stats.duties`, the same counting as the statistics), the rows
the dashboard shows (overdue first, by days late then escalation level; then those due
within N working days) and each directive's progress in its current cycle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from definitions.calendar import WorkingCalendar, deadline_instant, local_date
from ledger.directives import Directives
from lifecycle.state import DirectiveState, Explanation
from lifecycle.stats import Duty, Period, days_late, duties, standing_at
from lifecycle.status import current_cycle


def states(directives: Directives, *, as_of: dt.datetime | None = None) -> list[DirectiveState]:
    """Every directive of the ledger as it stood at `as_of` (now when None)."""
    found = []
    for directive_id in directives.ids():
        state = directives.state(directive_id, as_of=as_of)
        if state.resolved is not None:
            found.append(state)
    return found


def names(found: list[DirectiveState]) -> dict[str, str]:
    """Agencies' and directives' names (a directive by its reference, `2810/UBND-KGVX`)."""
    named: dict[str, str] = {}
    for state in found:
        named.update({a.id: a.name for a in state.definition.tracked})
        named.setdefault(state.id, state.definition.definition.reference)
    return named


@dataclass(frozen=True)
class Row:
    """One open duty as the dashboard shows it."""

    directive: str
    cycle: str
    agency: str
    kind: str  # report | consolidation
    due: dt.date
    overdue: bool
    days_late: int
    working_days_late: int
    working_days_left: int
    escalation_level: int
    explanation: Explanation | None  # the latest asked, answered or not


def _working_days_left(today: dt.date, due: dt.date, calendar: WorkingCalendar) -> int:
    days = (due - today).days
    return sum(1 for n in range(1, days + 1) if calendar.is_working_day(today + dt.timedelta(days=n)))


def rows(
    found: list[DirectiveState],
    now: dt.datetime,
    calendar: WorkingCalendar,
    *,
    within: int = 5,
    agency: str | None = None,
    directive: str | None = None,
    period: Period | None = None,
) -> tuple[list[Row], list[Row]]:
    """(overdue, due soon): the open duties overdue at `now`, most days late first, then
    highest escalation level; and those due within `within` working days, soonest first."""
    overdue: list[Row] = []
    soon: list[Row] = []
    today = local_date(now)
    for state in found:
        if directive is not None and state.id != directive:
            continue
        for duty in duties(state):
            if duty.completed_at is not None:
                continue
            if agency is not None and duty.agency != agency:
                continue
            if period is not None and not period.contains(duty.due):
                continue
            row = _row(state, duty, now, today, calendar)
            if row.overdue:
                overdue.append(row)
            elif row.working_days_left <= within:
                soon.append(row)
    overdue.sort(key=lambda r: (-r.days_late, -r.escalation_level, r.due, r.agency, r.directive))
    soon.sort(key=lambda r: (r.due, r.agency, r.directive))
    return overdue, soon


def _row(
    state: DirectiveState, duty: Duty, now: dt.datetime, today: dt.date,
    calendar: WorkingCalendar,
) -> Row:  # fmt: skip
    late = standing_at(duty, now) == "open_overdue"
    days, working = days_late(duty, now, calendar) if late else (0, 0)
    return Row(
        directive=duty.directive, cycle=duty.cycle, agency=duty.agency, kind=duty.kind,
        due=duty.due, overdue=late, days_late=days, working_days_late=working,
        working_days_left=0 if late else _working_days_left(today, duty.due, calendar),
        escalation_level=duty.escalation_level,
        explanation=duty.explanations[-1] if duty.explanations else None,
    )  # fmt: skip


@dataclass(frozen=True)
class Progress:
    """A directive's current cycle: how many of its agencies' reports stand, how many are late."""

    directive: str
    cycle: str | None
    status: str
    reported: int
    total: int
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.reported / self.total) if self.total else 100


def progress(found: list[DirectiveState], now: dt.datetime) -> list[Progress]:
    result = []
    for state in found:
        cycle_id = current_cycle(state)
        works = (
            [w for w in state.cycles[cycle_id].works.values()
             if w.status not in ("withdrawn", "transferred")]
            if cycle_id else []
        )  # fmt: skip
        reported = sum(1 for w in works if w.completed_at is not None)
        late = sum(
            1 for w in works if w.completed_at is None and now >= deadline_instant(w.due)
        )
        result.append(Progress(state.id, cycle_id, state.status, reported, len(works), late))
    return result
