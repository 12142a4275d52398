"""The task that publishes a directive's status in the Prefect UI and its events to the event feed.

Under stable keys: the current cycle's table (one row per tracked agency) as `<id>-status`,
and each cycle's own table as `<id>-<cycle>-status`, republished whenever something happened
in that cycle, so a closed cycle's result stays in view after the next one opens; and a
progress artifact (share of agencies reported this cycle). Every ledger event kind is emitted
as a Prefect event (`chidao.<noun>.<verb>`), with an id derived from its place and hash in the
ledger, so emitting one twice stores it once; it occurs at the time it is published (the event
feed shows recent events), its business time in the payload. The ledger, not these events,
remains the record.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from pydantic import BaseModel, ConfigDict

from i18n import N_, gettext
from i18n.times import person_date, person_time
from lifecycle.status import AgencyRow, event_label, role_label, standing_label

EVENT_NAMES = {
    "DirectiveIssued": "chidao.directive.issued",
    "CycleOpened": "chidao.cycle.opened",
    "Acknowledged": "chidao.work.acknowledged",
    "ItemCompleted": "chidao.item.completed",
    "ReportSubmitted": "chidao.report.submitted",
    "ReportAccepted": "chidao.report.accepted",
    "ReportReturned": "chidao.report.returned",
    "ExtensionRequested": "chidao.extension.requested",
    "ExtensionGranted": "chidao.extension.granted",
    "ExtensionRefused": "chidao.extension.refused",
    "DeadlineMoved": "chidao.deadline.moved",
    "TaskWithdrawn": "chidao.task.withdrawn",
    "ReminderSent": "chidao.reminder.sent",
    "EscalationRaised": "chidao.escalation.raised",
    "NotificationFailed": "chidao.notification.failed",
    "ConsolidationRequested": "chidao.consolidation.requested",
    "ConsolidatedReportSubmitted": "chidao.consolidation.submitted",
    "CycleClosed": "chidao.cycle.closed",
    "DirectiveClosed": "chidao.directive.closed",
    "DefinitionAmended": "chidao.definition.amended",
    "IssuanceNotified": "chidao.issuance.notified",
    "NotificationSent": "chidao.notification.sent",
    "NoticeSent": "chidao.notice.sent",
    "CyclesNotTracked": "chidao.cycles.not-tracked",
    "OverdueSummarised": "chidao.overdue.summarised",
    "WorkTransferred": "chidao.work.transferred",
    "SupersedesDirective": "chidao.directive.supersedes",
    "ExplanationRequested": "chidao.explanation.requested",
    "ExplanationGiven": "chidao.explanation.given",
}
_WORD = re.compile(r"[A-Z][a-z0-9]*")


def event_name(event_type: str) -> str:
    """The Prefect event name of a ledger event kind; kinds added later get `chidao.<words>`."""
    named = EVENT_NAMES.get(event_type)
    if named is not None:
        return named
    words = [w.lower() for w in _WORD.findall(event_type)] or [event_type.lower()]
    return "chidao." + ".".join(words)
NAMESPACE = uuid.UUID("7b0f3c2e-5d3a-4c55-9a39-6c1d2f0e9a11")


class LedgerEventRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    hash: str
    type: str
    agency: str | None
    cycle: str | None
    at: dt.datetime


class CycleTable(BaseModel):
    """One cycle's rows, published under `<id>-<cycle>-status`."""

    model_config = ConfigDict(frozen=True)

    cycle: str
    status: str
    rows: list[AgencyRow]


class StatusInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    directive: str
    reference: str
    cycle: str | None
    rows: list[AgencyRow]
    share_reported: float
    next_wakeup: dt.datetime | None
    failed_notifications: int
    events: list[LedgerEventRef]
    # the cycles something happened in since the last publication (the current one included)
    cycles: list[CycleTable] = []
    # when the events are published, the `occurred` of each in the feed (the flow's clock)
    published_at: dt.datetime | None = None
    # the operator's language (CHIDAO_LANG), for the table's headers, values and descriptions
    language: str = "vi"


def artifact_key(directive: str, what: str) -> str:
    return f"{directive}-{what}"


def cycle_key(directive: str, cycle: str) -> str:
    """`<id>-<cycle>-status`, within Prefect's key alphabet (lowercase, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", cycle.lower()).strip("-") or "cycle"
    return f"{directive}-{slug}-status"


# The status table's columns, as catalogue ids; every header and value is in one language.
COLUMNS = (
    N_("Agency ID"), N_("Agency"), N_("Role"), N_("Items done"), N_("Report due"),
    N_("Standing"), N_("Escalation level"), N_("Last event"), N_("Last event at"),
)  # fmt: skip


def table_rows(rows: list[AgencyRow], lang: str = "vi") -> list[dict[str, Any]]:
    """The status table for people: headers and values in `lang`, times in Vietnam's."""
    headers = [gettext(c, lang) for c in COLUMNS]
    return [
        dict(
            zip(
                headers,
                (
                    r.agency,
                    r.name,
                    role_label(r.role, lang),
                    f"{r.items_done}/{r.items_assigned}",
                    person_date(r.due, lang),
                    standing_label(r.status, lang),
                    r.escalation_level,
                    event_label(r.last_event, lang),
                    person_time(r.last_event_at, lang),
                ),
                strict=True,
            )
        )
        for r in rows
    ]


def descriptions(inp: StatusInput) -> tuple[str, str]:
    """The table's and the progress bar's descriptions, in the operator's language."""
    lang = inp.language
    parts = [gettext("{reference} · cycle {cycle}", lang).format(
        reference=inp.reference, cycle=inp.cycle or "—"
    )]
    if inp.next_wakeup:
        parts.append(gettext("next wake-up {at}", lang).format(at=person_time(inp.next_wakeup, lang)))
    if inp.failed_notifications:
        parts.append(gettext("{count} notifications failed", lang).format(
            count=inp.failed_notifications
        ))
    progress = gettext("{reference} · share of agencies reported in cycle {cycle}", lang).format(
        reference=inp.reference, cycle=inp.cycle or "—"
    )
    return "; ".join(parts), progress


def _resource(directive: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"chidao.directive.{directive}",
        "prefect.resource.name": directive,
    }


@task(name="publish-status", cache_policy=NO_CACHE)
def publish_status(inp: StatusInput) -> None:
    table_text, progress_text = descriptions(inp)
    create_table_artifact(
        key=artifact_key(inp.directive, "status"),
        table=table_rows(inp.rows, inp.language),
        description=table_text,
    )
    for table in inp.cycles:
        create_table_artifact(
            key=cycle_key(inp.directive, table.cycle),
            table=table_rows(table.rows, inp.language),
            description=gettext("{reference} · cycle {cycle}", inp.language).format(
                reference=inp.reference, cycle=table.cycle
            ),
        )
    create_progress_artifact(
        key=artifact_key(inp.directive, "progress"),
        progress=round(inp.share_reported * 100, 1),
        description=progress_text,
    )
    for ref in inp.events:
        name = event_name(ref.type)
        related = []
        if ref.agency:
            related.append(
                {
                    "prefect.resource.id": f"chidao.agency.{ref.agency}",
                    "prefect.resource.role": "agency",
                }
            )
        emit_event(
            event=name,
            resource=_resource(inp.directive),
            related=related,
            occurred=inp.published_at,
            payload={"cycle": ref.cycle, "version": ref.version, "at": ref.at.isoformat()},
            # the chain hash tells two ledgers' events apart (a demo and a real one share ids)
            id=uuid.uuid5(NAMESPACE, f"{inp.directive}:{ref.version}:{ref.hash}"),
        )
    for row in inp.rows:
        if row.status == "overdue" and inp.cycle:
            emit_event(
                event="chidao.deadline.missed",
                resource=_resource(inp.directive),
                related=[
                    {
                        "prefect.resource.id": f"chidao.agency.{row.agency}",
                        "prefect.resource.role": "agency",
                    }
                ],
                occurred=inp.published_at,
                payload={"cycle": inp.cycle, "due": row.due.isoformat()},
                id=uuid.uuid5(
                    NAMESPACE, f"{inp.directive}:{inp.cycle}:{row.agency}:{row.due}:missed"
                ),
            )
