"""A definition resolved against the directory and the calendar: what the engine actually tracks.

Groups are expanded into their members (each tracked on its own), every agency gets its
sections, items and role, and every reporting cycle gets its due dates as stated by the
text and as they fall once a day off is rolled forward to the next working day.

Resolved `as_of` a date, an agency that had ended by then stands for its successors (and
theirs, if they ended too), and one not yet created stands for nobody; without a date the
directory's entries are taken as listed (as a directive issued before any change saw them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict

from definitions.calendar import WorkingCalendar, default_calendar
from definitions.schema import (
    AfterIssue,
    AfterPeriodEnd,
    AfterReportDue,
    Agency,
    Directive,
    Directory,
    DueRule,
    EachYear,
    FixedDate,
    Role,
)

# Recurring reporting with no last cycle is planned this many years ahead.
OPEN_ENDED_HORIZON_YEARS = 10
PERIODS_PER_YEAR = {"once": 1, "annual": 1, "half_yearly": 2, "quarterly": 4}


class Resolved(BaseModel):
    model_config = ConfigDict(frozen=True)


class ResolvedItem(Resolved):
    id: str  # "1a", "1đ", or "5" for a section without lettered items
    section: int
    letter: str | None
    text: str
    coordinate_with: tuple[str, ...]  # agency ids, groups expanded


# Version 2 added `format_version`, `as_of` and the tracked agencies' validity.
RESOLVED_FORMAT_VERSION = 2


class TrackedAgency(Resolved):
    id: str
    name: str
    email: str | None
    language: Literal["vi", "en"]
    answers_to: str | None
    role: Role  # lead if it leads anything, else coordinate, else requested
    sections: tuple[int, ...]
    items: tuple[ResolvedItem, ...]
    reports: bool
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None  # exclusive: the first day it no longer exists

    def valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day < self.valid_until
        )

    @property
    def requested_only(self) -> bool:
        return self.role == "requested"


class Cycle(Resolved):
    id: str  # "2023", "2024-H1", "2024-Q3"
    index: int
    period_start: dt.date
    period_end: dt.date
    report_due_stated: dt.date
    report_due: dt.date
    consolidation_due_stated: dt.date | None
    consolidation_due: dt.date | None


class ResolvedDirective(Resolved):
    format_version: int = RESOLVED_FORMAT_VERSION
    as_of: dt.date | None = None  # the date the directory was read at; None = as listed
    handovers: dict[str, tuple[str, ...]] = {}  # agency → who took its work, by amendment
    definition: Directive
    issuer: Agency
    tracked: tuple[TrackedAgency, ...]
    reporting_to: str
    consolidator: str | None
    consolidation_to: str | None
    cycles: tuple[Cycle, ...]

    @cached_property
    def _agencies(self) -> dict[str, TrackedAgency]:
        return {a.id: a for a in reversed(self.tracked)}  # the first wins

    @cached_property
    def _cycles(self) -> dict[str, Cycle]:
        return {c.id: c for c in reversed(self.cycles)}

    def agency(self, agency_id: str) -> TrackedAgency | None:
        return self._agencies.get(agency_id)

    def cycle(self, cycle_id: str) -> Cycle | None:
        return self._cycles.get(cycle_id)


class ResolutionError(ValueError):
    """A rule that cannot give a date (e.g. `each_year` with quarterly reporting)."""


def standing_for(directory: Directory, agency_id: str, day: dt.date) -> tuple[str, ...]:
    """Who stands for `agency_id` on `day`: itself while valid, its successors (theirs in
    turn) once it has ended, nobody before it was created."""
    agency = next((a for a in directory.agencies if a.id == agency_id), None)
    if agency is None or agency.valid_on(day):
        return (agency_id,)
    if (agency.valid_from is not None and day < agency.valid_from) or agency.succession is None:
        return ()
    found: list[str] = []
    for successor in agency.succession.successor_ids:
        if successor == agency_id:
            continue
        for member in standing_for(directory, successor, day):
            if member not in found:
                found.append(member)
    return tuple(found)


Handovers = Mapping[str, Sequence[str]]


def expand(
    directory: Directory,
    ref: str,
    as_of: dt.date | None = None,
    handovers: Handovers | None = None,
) -> tuple[str, ...]:
    """An agency id as itself, a group id as its members; as of a date, each through
    `standing_for` (ended members replaced by their successors); with `handovers` (the
    operator's choice, agency → who takes its work), each handed-over agency as its choice."""
    members: tuple[str, ...] = (ref,)
    for group in directory.groups:
        if group.id == ref:
            members = group.members
            break
    found: list[str] = []
    for member in members:
        chosen = _handed(member, handovers or {})
        standing = (
            chosen
            if as_of is None
            else tuple(s for c in chosen for s in standing_for(directory, c, as_of))
        )
        for one in standing:
            if one not in found:
                found.append(one)
    return tuple(found)


def _handed(agency_id: str, handovers: Handovers, depth: int = 0) -> tuple[str, ...]:
    if agency_id not in handovers or depth > 20:
        return (agency_id,)
    found: list[str] = []
    for successor in handovers[agency_id]:
        for one in _handed(successor, handovers, depth + 1):
            if one not in found:
                found.append(one)
    return tuple(found)


def predecessors(directory: Directory, ids: tuple[str, ...], as_of: dt.date) -> dict[str, list[str]]:
    """For each agency standing as of `as_of`, the ended agencies among `ids` it stands for."""
    found: dict[str, list[str]] = {}
    for old in ids:
        for new in standing_for(directory, old, as_of):
            if new != old:
                found.setdefault(new, []).append(old)
    return found


def _periods(directive: Directive) -> list[tuple[str, dt.date, dt.date]]:
    reporting = directive.reporting
    first = reporting.first_cycle
    if reporting.recurrence == "once":
        return [(str(first), directive.issued_on, dt.date(first, 12, 31))]
    last = reporting.last_cycle or first + OPEN_ENDED_HORIZON_YEARS
    per_year = PERIODS_PER_YEAR[reporting.recurrence]
    months = 12 // per_year
    found = []
    for year in range(first, last + 1):
        for part in range(per_year):
            start = dt.date(year, part * months + 1, 1)
            end_month = start.month + months
            end = (
                dt.date(year + 1, 1, 1) if end_month > 12 else dt.date(year, end_month, 1)
            ) - dt.timedelta(days=1)
            if reporting.recurrence == "annual":
                cycle_id = str(year)
            elif reporting.recurrence == "half_yearly":
                cycle_id = f"{year}-H{part + 1}"
            else:
                cycle_id = f"{year}-Q{part + 1}"
            if end >= directive.issued_on:
                found.append((cycle_id, start, end))
    return found


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for day_of_month in range(day.day, 0, -1):
        try:
            return dt.date(year, month, day_of_month)
        except ValueError:
            continue
    raise ResolutionError(f"no such date: {day} + {months} months")


def stated_due(
    rule: DueRule,
    directive: Directive,
    index: int,
    period_end: dt.date,
    calendar: WorkingCalendar,
    report_due: dt.date | None = None,
) -> dt.date:
    """The due date the rule gives for the `index`-th cycle, before any day-off rollover."""
    recurrence = directive.reporting.recurrence
    if isinstance(rule, FixedDate):
        months = index * (12 // PERIODS_PER_YEAR[recurrence])
        return _add_months(rule.on, months) if index else rule.on
    if isinstance(rule, EachYear):
        if recurrence not in ("once", "annual"):
            raise ResolutionError(f"'each_year' needs annual reporting, not {recurrence}")
        day, month = (int(part) for part in rule.each_year.split("/"))
        try:
            return dt.date(period_end.year, month, day)
        except ValueError as e:
            raise ResolutionError(f"'{rule.each_year}' is not a day of the year") from e
    if isinstance(rule, AfterIssue):
        if index:
            raise ResolutionError(
                "'days_after_issue' gives one date; recurring reporting needs another rule"
            )
        return calendar.shift(directive.issued_on, rule.days_after_issue, working=rule.working)
    if isinstance(rule, AfterPeriodEnd):
        return calendar.shift(period_end, rule.days_after_period_end, working=rule.working)
    if isinstance(rule, AfterReportDue):
        if report_due is None:
            raise ResolutionError("'days_after_report_due' is only for consolidation")
        return calendar.shift(report_due, rule.days_after_report_due, working=rule.working)
    raise ResolutionError(f"unknown deadline rule {rule!r}")


def resolve_cycles(
    directive: Directive, calendar: WorkingCalendar | None = None
) -> tuple[Cycle, ...]:
    try:
        return _resolve_cycles(directive, calendar or default_calendar())
    except OverflowError as e:
        raise ResolutionError("a due date falls beyond the last date the calendar has") from e


def _resolve_cycles(directive: Directive, calendar: WorkingCalendar) -> tuple[Cycle, ...]:
    cycles = []
    for index, (cycle_id, start, end) in enumerate(_periods(directive)):
        report_stated = stated_due(directive.reporting.due, directive, index, end, calendar)
        report_due = calendar.roll_forward(report_stated)
        consolidation_stated = consolidation_due = None
        if directive.consolidation is not None:
            consolidation_stated = stated_due(
                directive.consolidation.due, directive, index, end, calendar, report_due
            )
            consolidation_due = calendar.roll_forward(consolidation_stated)
        cycles.append(
            Cycle(
                id=cycle_id,
                index=index,
                period_start=start,
                period_end=end,
                report_due_stated=report_stated,
                report_due=report_due,
                consolidation_due_stated=consolidation_stated,
                consolidation_due=consolidation_due,
            )
        )
    return tuple(cycles)


_ROLE_RANK: dict[str, int] = {"lead": 0, "coordinate": 1, "requested": 2}


def resolve(
    directive: Directive,
    directory: Directory,
    calendar: WorkingCalendar | None = None,
    *,
    as_of: dt.date | None = None,
    handovers: Handovers | None = None,
) -> ResolvedDirective:
    """The tracked agencies and cycles of a definition that passed its checks, with the
    directory read as of `as_of` (see `standing_for`) or as listed, and the agencies whose
    work was handed over replaced by those who took it (`handovers`)."""
    agencies = {agency.id: agency for agency in directory.agencies}

    roles: dict[str, list[Role]] = {}
    sections: dict[str, list[int]] = {}
    items: dict[str, list[ResolvedItem]] = {}
    for assignment in directive.assignments:
        section_items = [
            ResolvedItem(
                id=f"{assignment.section}{item.letter}",
                section=assignment.section,
                letter=item.letter,
                text=item.text,
                coordinate_with=tuple(
                    member
                    for ref in item.coordinate_with
                    for member in expand(directory, ref, as_of, handovers)
                ),
            )
            for item in assignment.items
        ] or [
            ResolvedItem(
                id=str(assignment.section),
                section=assignment.section,
                letter=None,
                text=assignment.text or assignment.heading,
                coordinate_with=(),
            )
        ]
        for assigned in assignment.agencies:
            for member in expand(directory, assigned.agency, as_of, handovers):
                roles.setdefault(member, []).append(assigned.role)
                if assignment.section not in sections.setdefault(member, []):
                    sections[member].append(assignment.section)
                    items.setdefault(member, []).extend(section_items)
    reporting = directive.reporting
    reporters = (
        set(roles)
        if reporting.reporters == "all_tracked"
        else {m for ref in reporting.reporters for m in expand(directory, ref, as_of, handovers)}
    )
    tracked = tuple(
        TrackedAgency(
            id=agency_id,
            name=agencies[agency_id].name,
            email=agencies[agency_id].email,
            language=agencies[agency_id].language,
            answers_to=agencies[agency_id].answers_to,
            role=min(roles[agency_id], key=_ROLE_RANK.__getitem__),
            sections=tuple(sections[agency_id]),
            items=tuple(items[agency_id]),
            reports=agency_id in reporters,
            valid_from=agencies[agency_id].valid_from,
            valid_until=agencies[agency_id].valid_until,
        )
        for agency_id in roles
    )
    consolidation = directive.consolidation
    return ResolvedDirective(
        as_of=as_of,
        handovers={k: tuple(v) for k, v in (handovers or {}).items()},
        definition=directive,
        issuer=agencies[directive.issuer],
        tracked=tracked,
        reporting_to=reporting.to,
        consolidator=consolidation.by if consolidation else None,
        consolidation_to=consolidation.to if consolidation else None,
        cycles=resolve_cycles(directive, calendar),
    )
