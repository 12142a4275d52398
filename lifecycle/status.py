"""The four statuses the provinces publish, decided from business time, and the status table.

A work is *completed* when a report stands (submitted and not returned); it is on time when
that report came before the end of its due day (after any extension). An open work is
*in progress* until the end of its due day and *overdue* after it. `now` is always a
parameter: an auditor asks "as of" any moment.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from definitions.calendar import deadline_instant
from lifecycle.state import DirectiveState, Work

Standing = Literal["in_progress", "overdue", "completed_on_time", "completed_late", "withdrawn"]

STANDING_VI: dict[str, str] = {
    "in_progress": "đang thực hiện trong hạn",
    "overdue": "quá hạn",
    "completed_on_time": "hoàn thành đúng hạn",
    "completed_late": "hoàn thành quá hạn",
    "withdrawn": "đã rút nhiệm vụ",
}


def standing(work: Work, now: dt.datetime) -> Standing:
    if work.status == "withdrawn":
        return "withdrawn"
    deadline = deadline_instant(work.due)
    completed = work.completed_at
    if completed is not None and completed <= now:
        return "completed_on_time" if completed < deadline else "completed_late"
    return "in_progress" if now < deadline else "overdue"


class AgencyRow(BaseModel):
    """One line of the status table: an agency's work in a cycle as of a moment."""

    model_config = ConfigDict(frozen=True)

    agency: str
    name: str
    role: str
    items_done: int
    items_assigned: int
    due: dt.date
    status: Standing
    work_status: str
    acknowledged: bool
    escalation_level: int
    last_event: str | None
    last_event_at: dt.datetime | None


def current_cycle(state: DirectiveState) -> str | None:
    """The earliest cycle not closed, else the last one (cycles left untracked at launch aside)."""
    tracked = [c for c in state.cycles.values() if not c.not_tracked]
    open_ids = [c.id for c in tracked if c.status != "closed"]
    if open_ids:
        return open_ids[0]
    return tracked[-1].id if tracked else None


def agency_rows(state: DirectiveState, cycle_id: str, now: dt.datetime) -> list[AgencyRow]:
    resolved = state.definition
    cycle = state.cycles[cycle_id]
    rows = []
    for agency in resolved.tracked:
        work = cycle.works.get(agency.id)
        if work is None:
            continue
        agency_state = state.agencies[agency.id]
        rows.append(
            AgencyRow(
                agency=agency.id,
                name=agency.name,
                role=agency.role,
                items_done=sum(1 for item in agency.items if item.id in agency_state.items_done),
                items_assigned=len(agency.items),
                due=work.due,
                status=standing(work, now),
                work_status=work.status,
                acknowledged=agency_state.acknowledged_at is not None,
                escalation_level=work.escalation_level,
                last_event=work.last_event,
                last_event_at=work.last_event_at,
            )
        )
    return rows


def current_rows(state: DirectiveState, now: dt.datetime) -> tuple[str | None, list[AgencyRow]]:
    """The current cycle and its status table as of `now` (no rows before any cycle opened)."""
    cycle = current_cycle(state)
    return cycle, agency_rows(state, cycle, now) if cycle else []


def counts(rows: list[AgencyRow]) -> dict[str, int]:
    found = {key: 0 for key in STANDING_VI}
    for row in rows:
        found[row.status] += 1
    return found


def reported_share(rows: list[AgencyRow]) -> float:
    live = [r for r in rows if r.status != "withdrawn"]
    if not live:
        return 1.0
    done = sum(1 for r in live if r.status in ("completed_on_time", "completed_late"))
    return done / len(live)
