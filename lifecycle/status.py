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
from i18n import N_, gettext
from lifecycle.state import DirectiveState, Work

Standing = Literal[
    "in_progress", "overdue", "completed_on_time", "completed_late", "withdrawn", "transferred"
]

# What people read for each code, as catalogue ids (i18n/locale/*/chidao.po has the words);
# `standing_label(code, lang)` and the others give them in a language.
STANDINGS: dict[str, str] = {
    "in_progress": N_("in progress, within the deadline"),
    "overdue": N_("overdue"),
    "completed_on_time": N_("completed on time"),
    "completed_late": N_("completed late"),
    "withdrawn": N_("task withdrawn"),
    "transferred": N_("handed over to a successor"),
}
ROLES: dict[str, str] = {
    "lead": N_("lead"),
    "coordinate": N_("coordinating"),
    "requested": N_("requested"),
}
WORK_STATUSES: dict[str, str] = {
    "assigned": N_("report not submitted yet"),
    "reported": N_("report submitted, awaiting review"),
    "accepted": N_("report accepted"),
    "returned": N_("report returned for more"),
    "withdrawn": N_("task withdrawn"),
    "transferred": N_("handed over to a successor"),
}
EVENTS: dict[str, str] = {
    "DirectiveIssued": N_("directive issued"),
    "DefinitionAmended": N_("definition amended"),
    "CycleOpened": N_("reporting cycle opened"),
    "Acknowledged": N_("receipt acknowledged"),
    "ItemCompleted": N_("item done"),
    "ReportSubmitted": N_("report submitted"),
    "ReportAccepted": N_("report accepted"),
    "ReportReturned": N_("report returned"),
    "ExtensionRequested": N_("extension requested"),
    "ExtensionGranted": N_("extension granted"),
    "ExtensionRefused": N_("extension refused"),
    "DeadlineMoved": N_("deadline moved"),
    "TaskWithdrawn": N_("task withdrawn"),
    "IssuanceNotified": N_("issuance notified"),
    "ReminderSent": N_("reminder sent"),
    "EscalationRaised": N_("escalation raised"),
    "NotificationSent": N_("notification sent"),
    "NotificationFailed": N_("notification failed"),
    "NoticeSent": N_("notice sent"),
    "ConsolidationRequested": N_("consolidation requested"),
    "ConsolidatedReportSubmitted": N_("consolidated report submitted"),
    "CycleClosed": N_("reporting cycle closed"),
    "DirectiveClosed": N_("directive closed"),
    "WorkTransferred": N_("work handed over to a successor"),
    "SupersedesDirective": N_("supersedes an earlier directive"),
    "ExplanationRequested": N_("explanation requested"),
    "ExplanationGiven": N_("explanation given"),
}
CYCLE_STATUSES: dict[str, str] = {
    "open": N_("open"),
    "consolidation_requested": N_("consolidation requested"),
    "consolidated": N_("consolidated"),
    "closed": N_("closed"),
}
ACTIONS: dict[str, str] = {
    "issue_notice": N_("assignment"),
    "remind": N_("reminder"),
    "escalate": N_("escalation"),
    "request_consolidation": N_("consolidation request"),
    "close_cycle": N_("cycle closing"),
    "open_cycle": N_("new cycle"),
    "close_directive": N_("closing"),
    "notice": N_("notice"),
    "delivery_failed": N_("failed delivery"),
}
RECURRENCES: dict[str, str] = {
    "once": N_("once"),
    "annual": N_("every year"),
    "half_yearly": N_("every six months"),
    "quarterly": N_("every quarter"),
}
SOURCES: dict[str, str] = {
    "document": N_("stated in the document"),
    "operator": N_("set by the operator"),
}
# a document's kind is written in Vietnamese in its definition (`Công văn`)
DOCUMENT_KINDS: dict[str, str] = {
    "Công văn": N_("Official Letter"),
    "Chỉ thị": N_("Directive"),
    "Kế hoạch": N_("Plan"),
    "Quyết định": N_("Decision"),
    "Thông báo": N_("Notice"),
}
DIRECTIVE_STATUSES: dict[str, str] = {
    "new": N_("not issued"),
    "active": N_("active"),
    "closed": N_("closed"),
}


def _label(table: dict[str, str], code: str | None, lang: str) -> str:
    if not code:
        return ""
    return gettext(table[code], lang) if code in table else code


def standing_label(code: str, lang: str) -> str:
    """`hoàn thành đúng hạn` for `completed_on_time` in Vietnamese."""
    return _label(STANDINGS, code, lang)


def role_label(code: str, lang: str) -> str:
    return _label(ROLES, code, lang)


def work_status_label(code: str, lang: str) -> str:
    return _label(WORK_STATUSES, code, lang)


def event_label(code: str | None, lang: str) -> str:
    return _label(EVENTS, code, lang)


def cycle_status_label(code: str, lang: str) -> str:
    return _label(CYCLE_STATUSES, code, lang)


def recurrence_label(code: str, lang: str) -> str:
    return _label(RECURRENCES, code, lang)


def source_label(code: str, lang: str) -> str:
    return _label(SOURCES, code, lang)


def document_kind_label(kind: str, lang: str) -> str:
    return _label(DOCUMENT_KINDS, kind, lang)


def action_label(code: str, lang: str) -> str:
    return _label(ACTIONS, code, lang)


def directive_status_label(code: str, lang: str) -> str:
    return _label(DIRECTIVE_STATUSES, code, lang)


def standing(work: Work, now: dt.datetime) -> Standing:
    return standing_from(work.status, work.completed_at, deadline_instant(work.due), now)


def standing_from(
    work_status: str, completed_at: dt.datetime | None, deadline: dt.datetime, now: dt.datetime
) -> Standing:
    """The standing of a work from its status, when its standing report came (if one does)
    and the end of its due day, as of `now` (what the works projection keeps)."""
    if work_status in ("withdrawn", "transferred"):
        return "withdrawn" if work_status == "withdrawn" else "transferred"
    if completed_at is not None and completed_at <= now:
        return "completed_on_time" if completed_at < deadline else "completed_late"
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
    found = {key: 0 for key in STANDINGS}
    for row in rows:
        found[row.status] += 1
    return found


def reported_share(rows: list[AgencyRow]) -> float:
    live = [r for r in rows if r.status not in ("withdrawn", "transferred")]
    if not live:
        return 1.0
    done = sum(1 for r in live if r.status in ("completed_on_time", "completed_late"))
    return done / len(live)
