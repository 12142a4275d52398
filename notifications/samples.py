"""Sample situations for previewing a message: a plausible state and the action that sends it.

`chidao notifications preview` and the template tests use these to render any kind of message
for any agency of a definition without a ledger: the state is built by applying lifecycle
events (issuance, reports, an extension, a closed cycle …) as a real directive would record
them, and the action is the one the planner would propose in that state.
"""

from __future__ import annotations

import datetime as dt

from definitions.calendar import (
    WorkingCalendar,
    deadline_instant,
    default_calendar,
    local_date,
    start_of_day,
)
from definitions.content_hash import definition_sha256
from definitions.resolve import ResolvedDirective
from lifecycle import events as ev
from lifecycle.planner import OFFICE_HOUR, Action, action_key
from lifecycle.state import DirectiveState, apply
from notifications.compose import Language, Notice, compose
from notifications.errors import NotApplicable
from notifications.render import KINDS

SYSTEM = "system"
OPERATOR = "operator"
SAMPLE_REPORT = "Báo cáo kết quả thực hiện (mẫu xem trước)."
SAMPLE_EXPLANATION_ASK = "Đề nghị giải trình bằng văn bản lý do chậm báo cáo kết quả thực hiện."
SAMPLE_RETURN_REASON = "Báo cáo chưa có số liệu cụ thể theo từng nhiệm vụ được giao."
SAMPLE_REFUSAL = "Đề nghị gia hạn không nêu lý do khách quan."
SAMPLE_EXTENSION_REASON = "Đang chờ số liệu của các đơn vị trực thuộc."
SAMPLE_SMTP_ERROR = "SMTP 550 5.1.1 mailbox unavailable"


def _office(day: dt.date) -> dt.datetime:
    return start_of_day(day) + OFFICE_HOUR


class _Builder:
    def __init__(self, resolved: ResolvedDirective, cycle_id: str | None, calendar: WorkingCalendar):
        self.resolved = resolved
        self.calendar = calendar
        self.directive_id = resolved.definition.id
        self.issued_at = _office(resolved.definition.issued_on)
        self.state = DirectiveState()
        self.apply(ev.DirectiveIssued(
            at=self.issued_at, actor=OPERATOR, directive_id=self.directive_id,
            definition_sha256=definition_sha256(resolved), definition=resolved,
        ))
        first = resolved.cycles[0]
        self.apply(ev.CycleOpened(at=self.issued_at, actor=OPERATOR, cycle=first.id))
        chosen = resolved.cycle(cycle_id) if cycle_id else first
        if chosen is None:
            known = ", ".join(c.id for c in resolved.cycles)
            raise NotApplicable(f"{self.directive_id} has no cycle {cycle_id}; it has {known}")
        self.cycle = chosen
        if chosen.id != first.id:
            # Earlier cycles are closed in passing, as the flow would have closed them.
            for earlier in resolved.cycles:
                if earlier.index >= chosen.index:
                    break
                if earlier.id not in self.state.cycles:
                    self.apply(ev.CycleOpened(at=_office(earlier.period_start), actor=SYSTEM,
                                              cycle=earlier.id))
                self.apply(ev.CycleClosed(at=_office(earlier.report_due), actor=SYSTEM,
                                          cycle=earlier.id))
            self.apply(ev.CycleOpened(at=max(_office(chosen.period_start), self.issued_at),
                                      actor=SYSTEM, cycle=chosen.id))

    def apply(self, event: ev.EventBase) -> None:
        apply(self.state, event)  # type: ignore[arg-type]  # every EventBase here is an Event

    @property
    def due(self) -> dt.date:
        return self.cycle.report_due

    def before_due(self, working_days: int) -> dt.datetime:
        return _office(self.calendar.shift(self.due, -working_days, working=True))

    def work_of(self, agency: str) -> None:
        if agency not in self.state.cycles[self.cycle.id].works:
            raise NotApplicable(f"{agency} owes no report in cycle {self.cycle.id} of {self.directive_id}")

    def report(self, agency: str, at: dt.datetime) -> None:
        self.apply(ev.ReportSubmitted(at=at, actor=agency, agency=agency, cycle=self.cycle.id,
                                      text=SAMPLE_REPORT))

    def reporters(self) -> list[str]:
        return list(self.state.cycles[self.cycle.id].works)

    def notice(self, kind: str, agency: str) -> Action:
        version = self.state.version
        return Action(
            kind="notice", key=action_key(self.directive_id, self.cycle.id, agency, f"notice-{kind}", version),
            directive=self.directive_id, due_at=self.state.last_event_at or self.issued_at,
            cycle=self.cycle.id, agency=agency, recipient=agency, notice_kind=kind, event_version=version,
        )


def _need_tracked(resolved: ResolvedDirective, agency: str) -> None:
    if resolved.agency(agency) is None:
        tracked = ", ".join(a.id for a in resolved.tracked)
        raise NotApplicable(f"{agency} has no work on {resolved.definition.id}; tracked: {tracked}")


def _need_role(agency: str, expected: str | None, kind: str, what: str) -> None:
    if expected is None:
        raise NotApplicable(f"this directive sends no {kind} message: it has no {what}")
    if agency != expected:
        raise NotApplicable(f"a {kind} message goes to {expected} (the {what}), not to {agency}")


def sample(
    resolved: ResolvedDirective,
    agency: str,
    kind: str,
    *,
    cycle: str | None = None,
    level: int = 1,
    calendar: WorkingCalendar | None = None,
) -> tuple[Action, DirectiveState]:
    """A state and the action that would send `kind` about (or to) `agency` in it."""
    if kind not in KINDS:
        raise NotApplicable(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    calendar = calendar or default_calendar()
    b = _Builder(resolved, cycle, calendar)
    directive_id, cycle_id = b.directive_id, b.cycle.id
    issuer = resolved.issuer.id
    if kind == "issue_notice":
        _need_tracked(resolved, agency)
        return Action(kind="issue_notice", key=action_key(directive_id, None, agency, "issue_notice", 0),
                      directive=directive_id, due_at=b.issued_at, agency=agency, recipient=agency), b.state
    if kind in ("reminder", "escalation", "extension_granted", "extension_refused", "report_returned",
                "explanation_requested"):
        _need_tracked(resolved, agency)
        b.work_of(agency)
    if kind == "reminder":
        return Action(
            kind="remind", key=action_key(directive_id, cycle_id, agency, f"remind@{b.due.isoformat()}", "3wd"),
            directive=directive_id, due_at=b.before_due(3), cycle=cycle_id, agency=agency,
            recipient=agency, obligation="report", due=b.due,
        ), b.state
    if kind == "escalation":
        tracked = resolved.agency(agency)
        if tracked is not None and tracked.requested_only:
            raise NotApplicable(f"{agency} is only requested (đề nghị): it gets reminders, not escalations")
        levels = resolved.definition.escalation.levels
        chosen = next((x for x in levels if x.level == level), None)
        if chosen is None:
            raise NotApplicable(f"{directive_id} has no escalation level {level}; it has {len(levels)}")
        if chosen.to == "agency":
            target: str | None = agency
        elif chosen.to == "answers_to":
            target = tracked.answers_to if tracked else None
        else:
            target = chosen.to
        if target is None:
            raise NotApplicable(f"{agency} answers to nobody: level {level} has nowhere to go")
        day = calendar.shift(b.due, chosen.after, working=chosen.unit == "working_days")
        return Action(
            kind="escalate",
            key=action_key(directive_id, cycle_id, agency, f"escalate@{b.due.isoformat()}", f"{level}.1"),
            directive=directive_id, due_at=max(_office(day), deadline_instant(b.due)), cycle=cycle_id,
            agency=agency, recipient=target, obligation="report", due=b.due, level=level, repeat=1,
        ), b.state
    if kind == "extension_granted" or kind == "extension_refused":
        proposed = b.due + dt.timedelta(days=14)
        b.apply(ev.ExtensionRequested(at=b.before_due(5), actor=agency, agency=agency, cycle=cycle_id,
                                      reason=SAMPLE_EXTENSION_REASON, proposed_due=proposed))
        if kind == "extension_granted":
            b.apply(ev.ExtensionGranted(at=b.before_due(4), actor=OPERATOR, agency=agency,
                                        cycle=cycle_id, new_due=proposed))
            return b.notice("extension_granted", agency), b.state
        b.apply(ev.ExtensionRefused(at=b.before_due(4), actor=OPERATOR, agency=agency, cycle=cycle_id,
                                    reason=SAMPLE_REFUSAL))
        return b.notice("extension_refused", agency), b.state
    if kind == "report_returned":
        b.report(agency, b.before_due(3))
        b.apply(ev.ReportReturned(at=b.before_due(2), actor=resolved.reporting_to, agency=agency,
                                  cycle=cycle_id, reason=SAMPLE_RETURN_REASON))
        return b.notice("report_returned", agency), b.state
    if kind == "explanation_requested":
        asked_at = deadline_instant(b.due) + dt.timedelta(days=3)
        b.apply(ev.ExplanationRequested(at=asked_at, actor=OPERATOR, agency=agency, cycle=cycle_id,
                                        due=local_date(asked_at) + dt.timedelta(days=7),
                                        text=SAMPLE_EXPLANATION_ASK))
        return b.notice("explanation_requested", agency), b.state
    reporters = b.reporters()
    consolidator = resolved.consolidator
    if kind == "consolidation_request":
        _need_role(agency, consolidator, kind, "consolidating agency")
        # about two thirds report, one of them late, the rest are missing
        for index, reporter in enumerate(reporters[: max(1, len(reporters) * 2 // 3)]):
            b.report(reporter, b.before_due(index % 5))
        return Action(
            kind="request_consolidation", key=action_key(directive_id, cycle_id, agency, "request_consolidation", 0),
            directive=directive_id, due_at=deadline_instant(b.due) + OFFICE_HOUR, cycle=cycle_id,
            agency=agency, recipient=agency, due=b.cycle.consolidation_due,
        ), b.state
    if kind == "consolidated_ack":
        _need_role(agency, consolidator, kind, "consolidating agency")
        for reporter in reporters:
            b.report(reporter, b.before_due(1))
        b.apply(ev.ConsolidationRequested(at=deadline_instant(b.due) + OFFICE_HOUR, actor=SYSTEM,
                                          cycle=cycle_id, consolidator=agency, key="sample"))
        consolidated_on = b.cycle.consolidation_due or b.due
        b.apply(ev.ConsolidatedReportSubmitted(at=_office(consolidated_on), actor=agency,
                                               cycle=cycle_id, text=SAMPLE_REPORT))
        return b.notice("consolidated_ack", agency), b.state
    if kind in ("cycle_closed", "directive_closed"):
        _need_role(agency, issuer, kind, "issuer")
        # most report on time, one late, one never: every count of the status shows
        for index, reporter in enumerate(reporters):
            if index == len(reporters) - 1 and len(reporters) > 2:
                continue
            late = index == len(reporters) - 2 and len(reporters) > 2
            b.report(reporter, _office(b.due + dt.timedelta(days=3)) if late else b.before_due(1))
        closing = _office((b.cycle.consolidation_due or b.due) + dt.timedelta(days=1))
        if consolidator:
            b.apply(ev.ConsolidatedReportSubmitted(at=closing, actor=consolidator, cycle=cycle_id,
                                                   text=SAMPLE_REPORT))
        b.apply(ev.CycleClosed(at=closing, actor=SYSTEM, cycle=cycle_id))
        if kind == "cycle_closed":
            return Action(
                kind="close_cycle", key=action_key(directive_id, cycle_id, None, "close_cycle", 0),
                directive=directive_id, due_at=closing, cycle=cycle_id, recipient=issuer,
            ), b.state
        b.apply(ev.DirectiveClosed(at=closing, actor=SYSTEM, reason="every reporting cycle is closed"))
        return Action(
            kind="close_directive", key=action_key(directive_id, None, None, "close_directive", 0),
            directive=directive_id, due_at=closing, recipient=issuer,
        ), b.state
    if kind == "overdue_summary":
        # launched late with `--catch-up summary`: the cycles before this one left untracked
        _need_tracked(resolved, agency)
        earlier = [c for c in resolved.cycles if c.index < b.cycle.index] or [b.cycle]
        b.apply(ev.OverdueSummarised(
            at=b.issued_at, actor=OPERATOR, agency=agency,
            overdue=tuple(ev.Overdue(cycle=c.id, obligation="report", due=c.report_due) for c in earlier),
        ))
        return b.notice("overdue_summary", agency), b.state
    # delivery_failed: the agency's issuance notice could not be delivered
    _need_tracked(resolved, agency)
    failed_key = action_key(directive_id, None, agency, "issue_notice", 0)
    b.apply(ev.NotificationFailed(at=b.issued_at + dt.timedelta(hours=2), actor=SYSTEM, key=failed_key,
                                  kind="issue_notice", recipient=agency, error=SAMPLE_SMTP_ERROR))
    tracked = resolved.agency(agency)
    recipient = tracked.answers_to if tracked and tracked.answers_to else issuer
    return Action(
        kind="delivery_failed", key=f"{failed_key}:delivery-failed", directive=directive_id,
        due_at=b.issued_at + dt.timedelta(hours=2), agency=agency, recipient=recipient,
        notice_kind="issue_notice",
    ), b.state


def preview(
    resolved: ResolvedDirective,
    agency: str,
    kind: str,
    *,
    answer_url: str,
    language: Language | None = None,
    cycle: str | None = None,
    level: int = 1,
) -> Notice:
    """The message of `kind` that `agency` would get (or, for the issuer's kinds, the issuer)."""
    action, state = sample(resolved, agency, kind, cycle=cycle, level=level)
    notices = compose(action, state, answer_url=answer_url, language=language)
    if not notices:
        raise NotApplicable(f"a {kind} message about {agency} would tell nobody")
    return notices[0]
