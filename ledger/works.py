"""Queries over the works projection: who owes what, by agency, by directive, overdue first.

The faces (`chidao status`, the webhook's status, the views to come) read here instead of
replaying directives. Every query first brings up to date the directives whose rows lag their
stream (`ledger.projections.refresh`), then reads indexed rows:

- `directive_summary(engine, id)`: the directive's row (status, current cycle, reference,
  cycles, failed deliveries, pending actions, the hash of its definition);
- `rows_for_directive(engine, id, cycle=None)`: its works, by cycle then the definition's order;
- `rows_for_agency(engine, agency)`: one agency's works across every directive;
- `overdue_first(engine, now, ...)`: works by urgency at `now` (overdue, earliest deadline
  first; then in progress; then the settled ones);
- `status_rows(summary, rows, now)`: the status table (`lifecycle.status.AgencyRow`) of a cycle.

A `WorkRow`'s `standing` does not depend on the moment asked ("open" while no report stands);
`WorkRow.standing_at(now)` gives the four-way standing the provinces publish, exactly as
`lifecycle.status.standing` decides it from the state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Engine, and_, case, select
from sqlalchemy.sql import Select

from ledger.projections import refresh
from ledger.tables import projection_directives, projection_works
from lifecycle.status import AgencyRow, Standing, standing_from


@dataclass(frozen=True)
class WorkRow:
    """One row of `projection_works`: an agency's reporting duty in one cycle of a directive."""

    directive: str
    cycle: str
    agency: str
    position: int | None  # among the definition's agencies; None when not tracked any more
    name: str | None
    role: str | None
    work_status: str
    standing: str  # "open", "completed_on_time", "completed_late", "withdrawn", "transferred"
    due: dt.date  # the cycle's
    effective_due: dt.date  # after extensions and moved deadlines
    deadline: dt.datetime  # the end of the effective due day
    extension: str | None  # the last request's decision: pending, granted, refused
    extended_due: dt.date | None
    acknowledged_at: dt.datetime | None
    reported_at: dt.datetime | None
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    escalation_level: int
    reminders: int
    items_done: int
    items_assigned: int
    transferred_to: list[str]
    predecessors: list[str]
    last_event: str | None
    last_event_at: dt.datetime | None
    last_event_version: int | None

    def standing_at(self, now: dt.datetime) -> Standing:
        """In progress, overdue, completed on time or late, withdrawn or transferred at `now`."""
        return standing_from(self.work_status, self.completed_at, self.deadline, now)

    def status_row(self, now: dt.datetime) -> AgencyRow:
        """The line of the status table this work makes at `now`."""
        return AgencyRow(
            agency=self.agency,
            name=self.name or self.agency,
            role=self.role or "",
            items_done=self.items_done,
            items_assigned=self.items_assigned,
            due=self.effective_due,
            status=self.standing_at(now),
            work_status=self.work_status,
            acknowledged=self.acknowledged_at is not None,
            escalation_level=self.escalation_level,
            last_event=self.last_event,
            last_event_at=self.last_event_at,
        )


_WORK_FIELDS = tuple(f.name for f in fields(WorkRow))


@dataclass(frozen=True)
class DirectiveSummary:
    """One row of `projection_directives`."""

    directive: str
    status: str
    current_cycle: str | None
    version: int
    reference: str | None
    definition_sha256: str | None
    cycles: list[tuple[str, str]]  # (cycle, status), in opening order
    failed_notifications: list[dict[str, Any]]
    pending: list[dict[str, Any]]  # kind, agency, cycle, due_at (ISO 8601), earliest first
    last_event_at: dt.datetime | None

    def next_wakeup(self, now: dt.datetime) -> tuple[dt.datetime | None, list[dict[str, Any]]]:
        """When the next pending action after `now` falls due, and the actions due then
        (what `lifecycle.next_wakeup` and `pending_actions` say of the state)."""
        later = [
            (dt.datetime.fromisoformat(a["due_at"]), a)
            for a in self.pending
            if dt.datetime.fromisoformat(a["due_at"]) > now
        ]
        if not later:
            return None, []
        wake = min(at for at, _ in later)
        return wake, [a for at, a in later if at == wake]


def _work(row: Any) -> WorkRow:
    data = row._mapping
    return WorkRow(**{name: data[name] for name in _WORK_FIELDS})


def _works(engine: Engine, query: Select[Any]) -> list[WorkRow]:
    refresh(engine)
    with engine.connect() as conn:
        return [_work(row) for row in conn.execute(query)]


def directive_ids(engine: Engine) -> list[str]:
    """Every directive of the ledger, by id."""
    refresh(engine)
    query = select(projection_directives.c.directive).order_by(projection_directives.c.directive)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def directive_summary(engine: Engine, directive: str, *, fresh: bool = False) -> DirectiveSummary | None:
    """The directive's projection row; None when the ledger has no such directive. With
    `fresh`, the caller has just brought the rows up to date."""
    if not fresh:
        refresh(engine)
    query = select(projection_directives).where(projection_directives.c.directive == directive)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return DirectiveSummary(
        directive=row.directive,
        status=row.status,
        current_cycle=row.current_cycle,
        version=row.version,
        reference=row.reference,
        definition_sha256=row.definition_sha256,
        cycles=[(c, s) for c, s in row.cycles or []],
        failed_notifications=list(row.failed_notifications or []),
        pending=list(row.pending or []),
        last_event_at=row.last_event_at,
    )


def rows_for_directive(
    engine: Engine, directive: str, cycle: str | None = None, *, fresh: bool = False
) -> list[WorkRow]:
    """The directive's works (of one cycle, or all), by cycle then the definition's order."""
    w = projection_works.c
    query = select(projection_works).where(w.directive == directive)
    if cycle is not None:
        query = query.where(w.cycle == cycle)
    query = query.order_by(w.cycle, w.position.is_(None), w.position, w.agency)
    if fresh:
        with engine.connect() as conn:
            return [_work(row) for row in conn.execute(query)]
    return _works(engine, query)


def rows_for_agency(
    engine: Engine, agency: str, *, directives: Sequence[str] | None = None
) -> list[WorkRow]:
    """`agency`'s works across every directive (or those named), by directive then cycle."""
    w = projection_works.c
    query = select(projection_works).where(w.agency == agency)
    if directives is not None:
        query = query.where(w.directive.in_(list(directives)))
    return _works(engine, query.order_by(w.directive, w.cycle))


def overdue_first(
    engine: Engine,
    now: dt.datetime,
    *,
    agency: str | None = None,
    directive: str | None = None,
    only_overdue: bool = False,
    active_only: bool = True,
) -> list[WorkRow]:
    """Works by urgency at `now`: overdue (the earliest deadline first), then in progress
    (the nearest deadline first), then settled; with `only_overdue`, the overdue ones alone
    (an indexed range on standing and deadline). Closed directives are left out unless
    `active_only` is False."""
    w = projection_works.c
    query = select(projection_works)
    if agency is not None:
        query = query.where(w.agency == agency)
    if directive is not None:
        query = query.where(w.directive == directive)
    if active_only:
        query = query.join(
            projection_directives, projection_directives.c.directive == w.directive
        ).where(projection_directives.c.status == "active")
    # open with a report dated after `now` still counts as open then (`standing_at`)
    unsettled = and_(w.standing == "open")
    if only_overdue:
        query = query.where(unsettled, w.deadline <= now)
    rank = case((and_(unsettled, w.deadline <= now), 0), (unsettled, 1), else_=2)
    rows = _works(engine, query.order_by(rank, w.deadline, w.directive, w.cycle, w.agency))
    return rows


def status_rows(rows: Sequence[WorkRow], now: dt.datetime) -> list[AgencyRow]:
    """The status table of the rows of one cycle: the tracked agencies, in the definition's
    order (`lifecycle.status.agency_rows`)."""
    tracked = sorted((r for r in rows if r.position is not None), key=lambda r: r.position or 0)
    return [r.status_row(now) for r in tracked]
