"""From a planner action and a directive's state, the messages it calls for: `compose`.

Pure apart from reading the agency directory (for the English name of a body, or the
address of a body the directive does not track): no clock, no database, no network. One
action tells at most one recipient, so it gives at most one `Notice`, keyed by the action's
idempotency key; the outbox relies on that key being unique.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from definitions.calendar import WorkingCalendar, default_calendar, local_date
from definitions.resolve import ResolvedDirective
from definitions.schema import Assignment, Directory
from i18n import N_, gettext
from lifecycle.planner import Action
from lifecycle.state import CycleState, DirectiveState, Work
from lifecycle.status import (
    agency_rows,
    counts,
    document_kind_label,
    recurrence_label,
    role_label,
    standing,
    standing_label,
)
from notifications.errors import NotApplicable, UnknownRecipient
from notifications.links import inbox_url, page_path, sign_agency_link
from notifications.render import format_date, render

Language = Literal["vi", "en"]
NoticeKind = Literal[
    "issue_notice", "reminder", "escalation", "consolidation_request", "consolidated_ack",
    "extension_granted", "extension_refused", "report_returned", "cycle_closed",
    "directive_closed", "delivery_failed", "overdue_summary", "explanation_requested",
]

# The planner's action kinds and the kind of message each sends; `notice` carries its own.
ACTION_KINDS: dict[str, str] = {
    "issue_notice": "issue_notice",
    "remind": "reminder",
    "escalate": "escalation",
    "request_consolidation": "consolidation_request",
    "close_cycle": "cycle_closed",
    "close_directive": "directive_closed",
    "delivery_failed": "delivery_failed",
}
SILENT_ACTIONS = frozenset({"open_cycle"})

# Words of the messages beyond their templates: catalogue ids (i18n/locale/*/chidao.po), given
# in the notice's language by `gettext(…, language)`; roles, recurrences, document kinds and
# standings are the labels of lifecycle.status.
ROLE_PHRASES: dict[str, str] = {
    "lead": N_("is assigned to lead"),
    "coordinate": N_("is assigned to take part in"),
    "requested": N_("is requested to carry out"),
}
KIND_LABELS: dict[str, str] = {
    "issue_notice": N_("notice of assignment"),
    "reminder": N_("deadline reminder"),
    "escalation": N_("overdue escalation"),
    "consolidation_request": N_("request to consolidate the reports"),
    "consolidated_ack": N_("acknowledgement of the consolidated report"),
    "extension_granted": N_("notice that an extension was granted"),
    "extension_refused": N_("notice that an extension was refused"),
    "report_returned": N_("notice that a report was returned"),
    "cycle_closed": N_("notice that a reporting cycle closed"),
    "directive_closed": N_("notice that the directive closed"),
    "delivery_failed": N_("notice of a failed delivery"),
    "overdue_summary": N_("summary of overdue reports"),
    "explanation_requested": N_("request for an explanation"),
}
WHAT: dict[str, str] = {"report": N_("report"), "consolidation": N_("consolidated report")}
# The four-way classification in the order a reader expects it: done first, then open.
STANDING_ORDER = ("completed_on_time", "completed_late", "in_progress", "overdue", "withdrawn")
ROMAN = ("I", "II", "III", "IV")
ITEM_PREVIEW_CHARS = 160


class Notice(BaseModel):
    """One message for one recipient about one planner action."""

    model_config = ConfigDict(frozen=True)

    key: str  # the planner action's idempotency key
    directive: str
    recipient: str  # agency id of whoever is told
    email: str  # empty when the directory has no address: the outbox fails it at once
    language: Language
    kind: NoticeKind
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Party:
    """Someone a message is sent to or speaks about."""

    id: str
    name: str
    name_en: str | None
    email: str | None
    language: Language

    def named(self, language: str) -> str:
        return self.name_en or self.name if language == "en" else self.name


def _directory() -> Directory | None:
    # The directory only adds English names and untracked bodies' addresses; a broken
    # directory file must not stop the mail that the resolved definition can already write.
    from definitions.errors import DefinitionError
    from definitions.loader import load_directory

    try:
        return load_directory()
    except (DefinitionError, OSError):
        return None


def party(resolved: ResolvedDirective, agency_id: str) -> Party:
    """The tracked agency, the issuer, or a body of the directory with that id."""
    directory = _directory()
    entry = next((a for a in directory.agencies if a.id == agency_id), None) if directory else None
    group = next((g for g in directory.groups if g.id == agency_id), None) if directory else None
    tracked = resolved.agency(agency_id)
    name_en = entry.name_en if entry else None
    if tracked is not None:
        return Party(tracked.id, tracked.name, name_en, tracked.email, tracked.language)
    if resolved.issuer.id == agency_id:
        issuer = resolved.issuer
        return Party(issuer.id, issuer.name, issuer.name_en, issuer.email, issuer.language)
    if entry is not None:
        return Party(entry.id, entry.name, entry.name_en, entry.email, entry.language)
    if group is not None:
        return Party(group.id, group.name, group.name_en, None, "vi")
    raise UnknownRecipient(
        f"{agency_id} is neither tracked by {resolved.definition.id}, nor its issuer, "
        "nor in the agency directory"
    )


def _short(text: str, limit: int = ITEM_PREVIEW_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip(" ,;.") + "…"


def cycle_label(resolved: ResolvedDirective, cycle_id: str, language: str) -> str:
    """`năm 2023`, `6 tháng đầu năm 2024`, `quý III/2024`; `2023`, `H1 2024`, `Q3 2024`."""
    year, _, part = cycle_id.partition("-")
    if not part:
        return f"năm {year}" if language == "vi" else year
    if part.startswith("H"):
        first = part == "H1"
        if language == "vi":
            return f"6 tháng {'đầu' if first else 'cuối'} năm {year}"
        return f"{'first' if first else 'second'} half of {year}"
    quarter = int(part[1:])
    return f"quý {ROMAN[quarter - 1]}/{year}" if language == "vi" else f"Q{quarter} {year}"


def _working_days_between(calendar: WorkingCalendar, after: dt.date, until: dt.date) -> int:
    """Working days d with after < d <= until (0 when until <= after)."""
    count, day = 0, after
    while day < until:
        day += dt.timedelta(days=1)
        if calendar.is_working_day(day):
            count += 1
    return count


class _Composer:
    def __init__(
        self,
        action: Action,
        state: DirectiveState,
        *,
        answer_url: str,
        language: Language | None,
        now: dt.datetime,
        calendar: WorkingCalendar,
        link_key: bytes | None = None,
        link_expires: dt.datetime | None = None,
    ) -> None:
        self.action = action
        self.state = state
        self.resolved = state.definition
        self.answer_url = answer_url.rstrip("/")
        self.forced_language = language
        self.now = now
        self.today = local_date(now)
        self.calendar = calendar
        self.link_key = link_key
        self.link_expires = link_expires

    # --- shared pieces ------------------------------------------------------------

    def link(self, agency_id: str, *, signed: bool = False) -> str:
        """The agency's page on the webhook; with `signed`, carrying a token that lets the
        reader answer for that agency (only ever given in mail to the agency itself)."""
        directive = self.resolved.definition.id
        if signed and self.link_key and self.link_expires is not None:
            # The agency's inbox page: its work on every directive, this one's first in view.
            return inbox_url(
                self.answer_url, self.link_key, agency_id, self.link_expires, directive
            )
        return f"{self.answer_url}{page_path(directive, agency_id)}"

    def drafts(self, agency_id: str, cycle: str | None) -> dict[str, str] | None:
        """Signed links to the consolidated report's draft (DOCX, HTML), for the department."""
        if cycle is None or not self.link_key or self.link_expires is None:
            return None
        token = quote(sign_agency_link(self.link_key, agency_id, self.link_expires), safe="")
        base = f"{self.answer_url}{page_path(self.resolved.definition.id, agency_id)}/draft/{cycle}"
        return {ext: f"{base}.{ext}?token={token}" for ext in ("docx", "html")}

    def directive_context(self, language: str) -> dict[str, Any]:
        d = self.resolved.definition
        issuer = party(self.resolved, self.resolved.issuer.id)
        about = d.subject
        for prefix in ("V/v ", "V/v: ", "v/v "):
            if about.startswith(prefix):
                about = about[len(prefix):]
        if language == "vi":
            cite = f"{d.kind} số {d.reference} ngày {format_date(d.issued_on, 'vi')}"
            citation = f"{cite} của {issuer.name}"
        else:
            kind = document_kind_label(d.kind, language)
            cite = f"{kind} No. {d.reference} of {format_date(d.issued_on, 'en')}"
            citation = f"{cite} of the {issuer.named('en')}"
        signer = d.signer
        return {
            "id": d.id,
            "reference": d.reference,
            "kind": d.kind,
            "issued_on": d.issued_on,
            "subject": d.subject,
            "about": about,
            "cite": cite,
            "citation": citation,
            "issuer_name": issuer.named(language),
            "place": d.place,
            "signer": " ".join(
                part for part in (
                    f"KT. {signer.on_behalf_of}" if signer.on_behalf_of else "",
                    signer.position,
                    signer.name or "",
                ) if part
            ),
            "recurrence": recurrence_label(d.reporting.recurrence, language),
        }

    def cycle_context(self, cycle_id: str | None, language: str) -> dict[str, Any]:
        cycle_id = cycle_id or self._current_cycle()
        resolved_cycle = self.resolved.cycle(cycle_id)
        if resolved_cycle is None:
            raise NotApplicable(f"{self.resolved.definition.id} has no reporting cycle {cycle_id}")
        live = self.state.cycles.get(cycle_id)
        report_due = live.report_due if live else resolved_cycle.report_due
        consolidation_due = live.consolidation_due if live else resolved_cycle.consolidation_due
        return {
            "id": cycle_id,
            "label": cycle_label(self.resolved, cycle_id, language),
            "report_due": report_due,
            "report_due_stated": resolved_cycle.report_due_stated,
            "rolled": report_due != resolved_cycle.report_due_stated
            and report_due == resolved_cycle.report_due,
            "consolidation_due": consolidation_due,
        }

    def _current_cycle(self) -> str:
        open_ids = [c.id for c in self.state.cycles.values() if c.status != "closed"]
        if open_ids:
            return open_ids[0]
        if self.state.cycles:
            last = self.state.cycles[list(self.state.cycles)[-1]]
            if last.not_tracked:  # launched late: the cycle tracked is the next, to be opened
                resolved_last = self.resolved.cycle(last.id)
                following = [c for c in self.resolved.cycles
                             if resolved_last is not None and c.index == resolved_last.index + 1]
                if following:
                    return following[0].id
            return last.id
        return self.resolved.cycles[0].id

    def _live_cycle(self, cycle_id: str | None) -> CycleState:
        cycle_id = cycle_id or self._current_cycle()
        found = self.state.cycles.get(cycle_id)
        if found is None:
            raise NotApplicable(f"cycle {cycle_id} of {self.resolved.definition.id} is not open")
        return found

    def _work(self, cycle_id: str | None, agency_id: str) -> Work:
        cycle = self._live_cycle(cycle_id)
        work = cycle.works.get(agency_id)
        if work is None:
            raise NotApplicable(f"{agency_id} owes no report in cycle {cycle.id}")
        return work

    def base(self, recipient: Party, language: str) -> dict[str, Any]:
        # only a tracked agency has its own page on the webhook to answer through
        tracked = self.resolved.agency(recipient.id) is not None
        return {
            "directive": self.directive_context(language),
            "recipient": {"id": recipient.id, "name": recipient.named(language),
                          "email": recipient.email or ""},
            "answer_link": self.link(recipient.id, signed=tracked),
            "tracked": tracked,
            "key": self.action.key,
            "today": self.today,
        }

    def language_for(self, recipient: Party) -> Language:
        return self.forced_language or recipient.language

    def pending_items(self, agency_id: str) -> list[dict[str, str]]:
        tracked = self.resolved.agency(agency_id)
        agency_state = self.state.agencies.get(agency_id)
        done = agency_state.items_done if agency_state else {}
        if tracked is None:
            return []
        return [{"id": i.id, "text": _short(i.text)} for i in tracked.items if i.id not in done]

    # --- per kind -----------------------------------------------------------------

    def issue_notice(self, recipient: Party, language: str) -> dict[str, Any]:
        tracked = self.resolved.agency(recipient.id)
        if tracked is None:
            raise NotApplicable(f"{recipient.id} has no work on {self.resolved.definition.id}")
        sections = []
        for assignment in self.resolved.definition.assignments:
            if assignment.section not in tracked.sections:
                continue
            role = self._section_role(assignment, recipient.id, tracked.role)
            sections.append({
                "number": assignment.section,
                "heading": assignment.heading,
                "text": assignment.text,
                "role": role_label(role, language),
                "lettered": [  # not "items": jinja would find dict.items first
                    {
                        "letter": item.letter,
                        "text": " ".join(item.text.split()),
                        "coordinate_with": [
                            party(self.resolved, ref).named(language) for ref in item.coordinate_with
                        ],
                    }
                    for item in assignment.items
                ],
            })
        consolidates = self.resolved.consolidator == recipient.id
        cycle = self.cycle_context(None, language)
        return {
            "role": role_label(tracked.role, language),
            "role_phrase": gettext(ROLE_PHRASES[tracked.role], language),
            "requested": tracked.requested_only,
            "sections": sections,
            "reports": tracked.reports,
            "reports_to_self": self.resolved.reporting_to == recipient.id,
            "reporting_to": party(self.resolved, self.resolved.reporting_to).named(language),
            "cycle": cycle,
            "consolidation": {
                "to": party(self.resolved, self.resolved.consolidation_to).named(language),
                "due": cycle["consolidation_due"],
            } if consolidates and self.resolved.consolidation_to and cycle["consolidation_due"]
            else None,
        }

    def _section_role(self, assignment: Assignment, agency_id: str, fallback: str) -> str:
        for assigned in assignment.agencies:
            if assigned.agency == agency_id:
                return assigned.role
        directory = _directory()
        if directory is not None:
            from definitions.resolve import expand

            for assigned in assignment.agencies:
                if agency_id in expand(directory, assigned.agency):
                    return assigned.role
        return fallback

    def reminder(self, recipient: Party, language: str) -> dict[str, Any]:
        action = self.action
        obligation = action.obligation or "report"
        cycle = self.cycle_context(action.cycle, language)
        due = action.due or (cycle["report_due"] if obligation == "report"
                             else cycle["consolidation_due"])
        context = {
            "obligation": obligation,
            "what": gettext(WHAT[obligation], language),
            "cycle": cycle,
            "due": due,
            "working_days_left": _working_days_between(self.calendar, self.today, due),
            "days_left": (due - self.today).days,
            "items": self.pending_items(recipient.id) if obligation == "report" else [],
            "reporting_to": party(
                self.resolved,
                self.resolved.reporting_to if obligation == "report"
                else (self.resolved.consolidation_to or self.resolved.issuer.id),
            ).named(language),
        }
        if obligation == "consolidation":
            context["received"], context["missing"] = self._received_missing(action.cycle, language)
        return context

    def escalation(self, recipient: Party, language: str) -> dict[str, Any]:
        action = self.action
        obligation = action.obligation or "report"
        concerned = party(self.resolved, action.agency or recipient.id)
        cycle = self.cycle_context(action.cycle, language)
        due = action.due or cycle["report_due"]
        return {
            "obligation": obligation,
            "what": gettext(WHAT[obligation], language),
            "level": action.level,
            "repeat": action.repeat,
            "to_self": concerned.id == recipient.id,
            "concerned": {"id": concerned.id, "name": concerned.named(language),
                          "link": self.link(concerned.id, signed=concerned.id == recipient.id)},
            "cycle": cycle,
            "due": due,
            "working_days_late": _working_days_between(self.calendar, due, self.today),
            "days_late": max((self.today - due).days, 0),
            "items": self.pending_items(concerned.id) if obligation == "report" else [],
            "reporting_to": party(
                self.resolved,
                self.resolved.reporting_to if obligation == "report"
                else (self.resolved.consolidation_to or self.resolved.issuer.id),
            ).named(language),
        }

    def _received_missing(
        self, cycle_id: str | None, language: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        cycle = self._live_cycle(cycle_id)
        received, missing = [], []
        for agency in self.resolved.tracked:
            work = cycle.works.get(agency.id)
            if work is None or work.status == "withdrawn":
                continue
            status = standing(work, self.now)
            name = party(self.resolved, agency.id).named(language)
            if work.completed_at is not None and work.completed_at <= self.now:
                received.append({
                    "name": name, "at": local_date(work.completed_at),
                    "status": standing_label(status, language), "on_time": status == "completed_on_time",
                })
            else:
                missing.append({"name": name, "due": work.due, "status": standing_label(status, language)})
        return received, missing

    def consolidation_request(self, recipient: Party, language: str) -> dict[str, Any]:
        cycle = self.cycle_context(self.action.cycle, language)
        received, missing = self._received_missing(self.action.cycle, language)
        return {
            "cycle": cycle,
            "received": received,
            "missing": missing,
            "drafts": self.drafts(recipient.id, self.action.cycle),
            "due": self.action.due or cycle["consolidation_due"],
            "consolidation_to": party(
                self.resolved, self.resolved.consolidation_to or self.resolved.issuer.id
            ).named(language),
        }

    def consolidated_ack(self, recipient: Party, language: str) -> dict[str, Any]:
        cycle = self.cycle_context(self.action.cycle, language)
        live = self._live_cycle(self.action.cycle)
        at = live.consolidated_at or self.now
        due = cycle["consolidation_due"]
        return {
            "cycle": cycle,
            "received_on": local_date(at),
            "on_time": due is None or local_date(at) <= due,
            "consolidation_to": party(
                self.resolved, self.resolved.consolidation_to or self.resolved.issuer.id
            ).named(language),
        }

    def extension_granted(self, recipient: Party, language: str) -> dict[str, Any]:
        work = self._work(self.action.cycle, recipient.id)
        granted = [x for x in work.extensions if x.decision == "granted"]
        extension = granted[-1] if granted else None
        return {
            "cycle": self.cycle_context(self.action.cycle, language),
            "new_due": extension.new_due if extension and extension.new_due else work.due,
            "requested_on": local_date(extension.requested_at) if extension else self.today,
            "proposed_due": extension.proposed_due if extension else work.due,
            "reporting_to": party(self.resolved, self.resolved.reporting_to).named(language),
        }

    def extension_refused(self, recipient: Party, language: str) -> dict[str, Any]:
        work = self._work(self.action.cycle, recipient.id)
        refused = [x for x in work.extensions if x.decision == "refused"]
        extension = refused[-1] if refused else None
        return {
            "cycle": self.cycle_context(self.action.cycle, language),
            "due": work.due,
            "requested_on": local_date(extension.requested_at) if extension else self.today,
            "proposed_due": extension.proposed_due if extension else work.due,
            "reason": (extension.refusal if extension else None) or "",
            "reporting_to": party(self.resolved, self.resolved.reporting_to).named(language),
        }

    def report_returned(self, recipient: Party, language: str) -> dict[str, Any]:
        work = self._work(self.action.cycle, recipient.id)
        return {
            "cycle": self.cycle_context(self.action.cycle, language),
            "reason": work.returned_reason or "",
            "reported_on": local_date(work.reported_at) if work.reported_at else None,
            "due": work.due,
            "overdue": self.today > work.due,
            "reporting_to": party(self.resolved, self.resolved.reporting_to).named(language),
        }

    def explanation_requested(self, recipient: Party, language: str) -> dict[str, Any]:
        work = self._work(self.action.cycle, recipient.id)
        asked = work.explanations[-1] if work.explanations else None
        return {
            "cycle": self.cycle_context(self.action.cycle, language),
            "due": work.due,
            "answer_by": asked.due if asked else self.today,
            "text": asked.text if asked else "",
            "asked_on": local_date(asked.requested_at) if asked else self.today,
        }

    def _counts(self, cycle_id: str, language: str, at: dt.datetime) -> dict[str, Any]:
        rows = agency_rows(self.state, cycle_id, at)
        found = counts(rows)
        names = {
            status: [party(self.resolved, r.agency).named(language) for r in rows if r.status == status]
            for status in found
        }
        return {
            "total": len(rows),
            "rows": [{"status": s, "label": standing_label(s, language), "count": found[s], "names": names[s]}
                     for s in STANDING_ORDER if s != "withdrawn" or found[s]],
            "late_or_missing": names["overdue"] + names["completed_late"],
        }

    def cycle_closed(self, recipient: Party, language: str) -> dict[str, Any]:
        live = self._live_cycle(self.action.cycle)
        at = live.closed_at or self.now
        current = self.resolved.cycle(live.id)
        following = [
            c for c in self.resolved.cycles if current is not None and c.index == current.index + 1
        ]
        return {
            "cycle": self.cycle_context(live.id, language),
            "closed_on": local_date(at),
            "consolidated_on": local_date(live.consolidated_at) if live.consolidated_at else None,
            "counts": self._counts(live.id, language, at),
            "next": self.cycle_context(following[0].id, language) if following else None,
        }

    def directive_closed(self, recipient: Party, language: str) -> dict[str, Any]:
        cycles = []
        for cycle_id, live in self.state.cycles.items():
            at = live.closed_at or self.now
            cycles.append({"cycle": self.cycle_context(cycle_id, language),
                           "counts": self._counts(cycle_id, language, at)})
        return {
            "closed_on": local_date(self.state.closed_at or self.now),
            "cycles": cycles,
            "tracked_count": len(self.resolved.tracked),
        }

    def delivery_failed(self, recipient: Party, language: str) -> dict[str, Any]:
        concerned = party(self.resolved, self.action.agency or recipient.id)
        failed_key = self.action.key.removesuffix(":delivery-failed")
        failure = self.state.notifications.get(failed_key)
        failed_kind = self.action.notice_kind or (failure.kind if failure else "issue_notice")
        return {
            "concerned": {"id": concerned.id, "name": concerned.named(language),
                          "email": concerned.email or "", "link": self.link(concerned.id)},
            "failed_kind": gettext(KIND_LABELS[failed_kind], language) if failed_kind in KIND_LABELS else failed_kind,
            "failed_key": failed_key,
            "error": failure.detail if failure else "",
            "failed_on": local_date(failure.at) if failure else self.today,
        }


    def overdue_summary(self, recipient: Party, language: str) -> dict[str, Any]:
        """What the agency owed in the cycles left untracked at launch (`--catch-up summary`)."""
        agency_state = self.state.agencies.get(recipient.id)
        owed = agency_state.overdue_summary if agency_state else []
        if not owed:
            raise NotApplicable(f"{recipient.id} has no overdue summary on {self.resolved.definition.id}")
        current = self._current_cycle()
        return {
            "overdue": [
                {"cycle": cycle_label(self.resolved, o.cycle, language),
                 "what": gettext(WHAT[o.obligation], language), "due": o.due}
                for o in owed
            ],
            "current": self.cycle_context(current, language),
            "current_what": gettext(WHAT["report" if any(o.obligation == "report" for o in owed)
                                         else "consolidation"], language),
            "reporting_to": party(self.resolved, self.resolved.reporting_to).named(language),
        }


def notice_kind(action: Action) -> str | None:
    """The kind of message an action sends, or None for one that tells nobody."""
    if action.kind in SILENT_ACTIONS:
        return None
    if action.kind == "notice":
        return action.notice_kind
    return ACTION_KINDS.get(action.kind)


def compose(
    action: Action,
    state: DirectiveState,
    *,
    answer_url: str,
    language: Language | None = None,
    now: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None,
    link_key: bytes | None = None,
    link_expires: dt.datetime | None = None,
) -> list[Notice]:
    """The messages `action` calls for: [] when it tells nobody, else one, keyed by `action.key`.

    `language` forces the language (the preview's `--lang`); by default it is the recipient's.
    `now` (default: the action's due time) is the moment days left or late are counted from.
    A recipient without an address still gets a Notice, with `email=""`: the outbox fails it
    at once, and the failure goes up the escalation path instead of stopping the flow.
    With `link_key` and `link_expires`, the link a tracked agency gets to its own page carries
    a signed token (`notifications.links`) valid until `link_expires`; without, a plain link.
    """
    kind = notice_kind(action)
    if kind is None:
        return []
    recipient_id = action.recipient or action.agency
    if recipient_id is None:
        raise NotApplicable(f"action {action.key} names nobody to tell")
    if action.kind == "delivery_failed" and recipient_id == action.agency:
        # Telling a body that mail to that same body failed cannot reach it, and a failure
        # of that message would start a chain of failures; the ledger already holds it.
        return []
    composer = _Composer(
        action, state, answer_url=answer_url, language=language,
        now=now or action.due_at, calendar=calendar or default_calendar(),
        link_key=link_key, link_expires=link_expires,
    )
    recipient = party(composer.resolved, recipient_id)
    chosen = composer.language_for(recipient)
    builder = getattr(composer, kind, None)
    if builder is None:
        raise NotApplicable(f"no message for a {kind!r} notice")
    context = {**composer.base(recipient, chosen), **builder(recipient, chosen)}
    rendered = render(kind, chosen, context)
    return [
        Notice(
            key=action.key,
            directive=composer.resolved.definition.id,
            recipient=recipient.id,
            email=recipient.email or "",
            language=chosen,
            kind=kind,  # type: ignore[arg-type]  # checked against the templates by render()
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
    ]
