"""The planner: from a directive's state, what must happen now and when the next thing falls due.

Pure: the time is a parameter and the working-day calendar is passed in. Every action has a
stable idempotency key, `directive:cycle:agency:action:level`, so recording it twice records
it once; an action is pending until an event carrying its key is in the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from definitions.calendar import WorkingCalendar, deadline_instant, start_of_day
from definitions.resolve import ResolvedDirective
from definitions.schema import EscalationLevel
from lifecycle.state import CycleState, DirectiveState, Work

# Messages go out at the start of the office day, not at midnight.
OFFICE_HOUR = dt.timedelta(hours=8)

ActionKind = Literal[
    "issue_notice",
    "remind",
    "escalate",
    "request_consolidation",
    "close_cycle",
    "open_cycle",
    "close_directive",
    "notice",
    "delivery_failed",
]

# Events that are answered by a message to someone, and the kind of that message.
NOTICE_KINDS = {
    "ExtensionGranted": "extension_granted",
    "ExtensionRefused": "extension_refused",
    "ReportReturned": "report_returned",
    "ConsolidatedReportSubmitted": "consolidated_ack",
}

LABELS_VI = {
    "issue_notice": "giao nhiệm vụ",
    "remind": "nhắc hạn",
    "escalate": "đôn đốc",
    "request_consolidation": "đề nghị tổng hợp",
    "close_cycle": "kết thúc kỳ",
    "open_cycle": "mở kỳ mới",
    "close_directive": "kết thúc",
    "notice": "thông báo",
    "delivery_failed": "gửi thư thất bại",
}


class Action(BaseModel):
    """One thing the flow must do, and the key that makes doing it twice harmless."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    key: str
    directive: str
    due_at: dt.datetime
    cycle: str | None = None
    agency: str | None = None  # the agency the action is about
    recipient: str | None = None  # who is told
    obligation: Literal["report", "consolidation"] | None = None
    due: dt.date | None = None  # the deadline it concerns
    level: int = 0
    repeat: int = 0
    notice_kind: str | None = None
    event_version: int | None = None


def action_key(
    directive: str, cycle: str | None, agency: str | None, action: str, level: str | int
) -> str:
    return f"{directive}:{cycle or '-'}:{agency or '-'}:{action}:{level}"


def _at_office(day: dt.date) -> dt.datetime:
    return start_of_day(day) + OFFICE_HOUR


def _escalation_target(
    level: EscalationLevel, agency_id: str, answers_to: str | None
) -> str | None:
    if level.to == "agency":
        return agency_id
    if level.to == "answers_to":
        return answers_to
    return level.to


def _ladder(
    resolved: ResolvedDirective,
    calendar: WorkingCalendar,
    *,
    cycle: CycleState,
    agency_id: str,
    obligation: Literal["report", "consolidation"],
    due: dt.date,
    done: set[str],
    requested_only: bool,
) -> list[Action]:
    """Reminders before `due` and escalations after it, for one obligation still open."""
    directive = resolved.definition
    tracked = resolved.agency(agency_id)
    # a consolidator that is not itself tracked answers to whom it consolidates for
    answers_to = tracked.answers_to if tracked else resolved.consolidation_to
    found = []
    suffix = "" if obligation == "report" else "-consolidation"
    for reminder in directive.escalation.reminders:
        day = calendar.shift(due, -reminder.before, working=reminder.unit == "working_days")
        tag = f"{reminder.before}{'wd' if reminder.unit == 'working_days' else 'd'}"
        key = action_key(
            directive.id, cycle.id, agency_id, f"remind{suffix}@{due.isoformat()}", tag
        )
        if _at_office(day) < cycle.opened_at - dt.timedelta(days=1):
            continue
        found.append(
            Action(
                kind="remind",
                key=key,
                directive=directive.id,
                due_at=max(_at_office(day), cycle.opened_at),
                cycle=cycle.id,
                agency=agency_id,
                recipient=agency_id,
                obligation=obligation,
                due=due,
            )
        )
    if requested_only:
        return _not_superseded(
            found, done
        )  # a request (`đề nghị`) is not escalated past a reminder
    for level in directive.escalation.levels:
        target = _escalation_target(level, agency_id, answers_to)
        if target is None:
            continue
        first_day = calendar.shift(due, level.after, working=level.unit == "working_days")
        if level.after == 0:
            first_day = due + dt.timedelta(days=1)
        for repeat in range(level.times):
            day = calendar.shift(
                first_day, repeat * (level.every or 0), working=level.unit == "working_days"
            )
            key = action_key(
                directive.id,
                cycle.id,
                agency_id,
                f"escalate{suffix}@{due.isoformat()}",
                f"{level.level}.{repeat + 1}",
            )
            found.append(
                Action(
                    kind="escalate",
                    key=key,
                    directive=directive.id,
                    due_at=max(_at_office(day), deadline_instant(due)),
                    cycle=cycle.id,
                    agency=agency_id,
                    recipient=target,
                    obligation=obligation,
                    due=due,
                    level=level.level,
                    repeat=repeat + 1,
                )
            )
    return _not_superseded(found, done)


def _not_superseded(steps: list[Action], done: set[str]) -> list[Action]:
    """The steps of one ladder still to do: not recorded, and not earlier than one that was."""
    latest_done = max((a.due_at for a in steps if a.key in done), default=None)
    return [
        a for a in steps if a.key not in done and (latest_done is None or a.due_at > latest_done)
    ]


def _work_open(work: Work) -> bool:
    return work.status in ("assigned", "returned")


def _cycle_actions(
    resolved: ResolvedDirective, state: DirectiveState, cycle: CycleState, calendar: WorkingCalendar
) -> list[Action]:
    directive_id = resolved.definition.id
    done = state.done_keys
    found: list[Action] = []
    if cycle.status == "closed":
        return found
    for work in cycle.works.values():
        if not _work_open(work):
            continue
        tracked = resolved.agency(work.agency)
        found.extend(
            _ladder(
                resolved,
                calendar,
                cycle=cycle,
                agency_id=work.agency,
                obligation="report",
                due=work.due,
                done=done,
                requested_only=bool(tracked and tracked.requested_only),
            )
        )
    consolidator = resolved.consolidator
    if consolidator and cycle.status in ("open", "consolidation_requested"):
        key = action_key(directive_id, cycle.id, consolidator, "request_consolidation", 0)
        if key not in done:
            reporting = [
                w for w in cycle.works.values() if w.status not in ("withdrawn", "transferred")
            ]
            completions = [w.completed_at for w in reporting]
            due_at = deadline_instant(cycle.report_due) + OFFICE_HOUR
            if reporting and all(completions):
                due_at = min(due_at, max(c for c in completions if c is not None))
            found.append(
                Action(
                    kind="request_consolidation",
                    key=key,
                    directive=directive_id,
                    due_at=max(due_at, cycle.opened_at),
                    cycle=cycle.id,
                    agency=consolidator,
                    recipient=consolidator,
                    due=cycle.consolidation_due,
                )
            )
        if cycle.consolidation_due is not None:
            found.extend(
                _ladder(
                    resolved,
                    calendar,
                    cycle=cycle,
                    agency_id=consolidator,
                    obligation="consolidation",
                    due=cycle.consolidation_due,
                    done=done,
                    requested_only=False,
                )
            )
    consolidated = cycle.status == "consolidated" or (
        consolidator is None and all(not _work_open(w) for w in cycle.works.values())
    )
    if consolidated:
        key = action_key(directive_id, cycle.id, None, "close_cycle", 0)
        closing_at = cycle.consolidated_at or max(
            (w.completed_at for w in cycle.works.values() if w.completed_at),
            default=cycle.opened_at,
        )
        found.append(
            Action(
                kind="close_cycle",
                key=key,
                directive=directive_id,
                due_at=closing_at,
                cycle=cycle.id,
                recipient=resolved.issuer.id,
            )
        )
    return found


def _next_cycle_actions(resolved: ResolvedDirective, state: DirectiveState) -> list[Action]:
    directive_id = resolved.definition.id
    opened = [c for c in resolved.cycles if c.id in state.cycles]
    if not opened:
        return []
    last = opened[-1]
    following = [c for c in resolved.cycles if c.index == last.index + 1]
    if not following:
        if all(c.status == "closed" for c in state.cycles.values()):
            closed_at = max(c.closed_at for c in state.cycles.values() if c.closed_at)
            return [
                Action(
                    kind="close_directive",
                    key=action_key(directive_id, None, None, "close_directive", 0),
                    directive=directive_id,
                    due_at=closed_at,
                    recipient=resolved.issuer.id,
                )
            ]
        return []
    nxt = following[0]
    previous = state.cycles[last.id]
    due_at = start_of_day(nxt.period_start)
    if previous.closed_at is not None:
        due_at = min(due_at, previous.closed_at)
    return [
        Action(
            kind="open_cycle",
            key=action_key(directive_id, nxt.id, None, "open_cycle", 0),
            directive=directive_id,
            due_at=max(due_at, previous.opened_at),
            cycle=nxt.id,
        )
    ]


def _notice_actions(resolved: ResolvedDirective, state: DirectiveState) -> list[Action]:
    directive_id = resolved.definition.id
    found = []
    for version, event_type, agency, cycle, at in state.history:
        notice_kind = NOTICE_KINDS.get(event_type)
        if notice_kind is None:
            continue
        recipient = agency or resolved.consolidator
        key = action_key(directive_id, cycle, recipient, f"notice-{notice_kind}", version)
        if key in state.done_keys:
            continue
        found.append(
            Action(
                kind="notice",
                key=key,
                directive=directive_id,
                due_at=at,
                cycle=cycle,
                agency=recipient,
                recipient=recipient,
                notice_kind=notice_kind,
                event_version=version,
            )
        )
    return found


def _delivery_failed_actions(resolved: ResolvedDirective, state: DirectiveState) -> list[Action]:
    directive_id = resolved.definition.id
    found = []
    for notification in state.notifications.values():
        if notification.status != "failed":
            continue
        key = f"{notification.key}:delivery-failed"
        if key in state.done_keys:
            continue
        tracked = resolved.agency(notification.recipient)
        found.append(
            Action(
                kind="delivery_failed",
                key=key,
                directive=directive_id,
                due_at=notification.at,
                agency=notification.recipient,
                recipient=(
                    tracked.answers_to if tracked and tracked.answers_to else resolved.issuer.id
                ),
                notice_kind=notification.kind,
            )
        )
    return found


def pending_actions(state: DirectiveState, calendar: WorkingCalendar) -> list[Action]:
    """Every action the state calls for and that has not been recorded, due now or later."""
    if state.status != "active" or state.resolved is None:
        return []
    resolved = state.resolved
    issued_at = state.issued_at or state.last_event_at
    assert issued_at is not None  # an active directive was issued
    found: list[Action] = []
    for agency in resolved.tracked:
        agency_state = state.agencies.get(agency.id)
        key = action_key(resolved.definition.id, None, agency.id, "issue_notice", 0)
        if key not in state.done_keys and not (agency_state and agency_state.withdrawn_at):
            found.append(
                Action(
                    kind="issue_notice",
                    key=key,
                    directive=resolved.definition.id,
                    due_at=issued_at,
                    agency=agency.id,
                    recipient=agency.id,
                )
            )
    for cycle in state.cycles.values():
        found.extend(_cycle_actions(resolved, state, cycle, calendar))
    found.extend(_next_cycle_actions(resolved, state))
    found.extend(_notice_actions(resolved, state))
    found.extend(_delivery_failed_actions(resolved, state))
    return sorted(
        (
            a
            for a in found
            if a.key not in state.done_keys and not _to_the_ended(state, a, a.due_at)
        ),
        key=lambda a: (a.due_at, a.key),
    )


def _to_the_ended(state: DirectiveState, action: Action, at: dt.datetime) -> bool:
    """An action addressed to, or (a reminder, an escalation) about, an agency ended by `at`."""
    if ended_by(state, action.recipient, at):
        return True
    return action.kind in LADDER_KINDS and ended_by(state, action.agency, at)


def ended_by(state: DirectiveState, agency_id: str | None, at: dt.datetime) -> bool:
    """Whether `agency_id` no longer exists at `at`: its validity ended (the directory's
    `valid_until`, as resolved) or its work passed to a successor. Nothing goes to it then."""
    if agency_id is None or state.resolved is None:
        return False
    agency_state = state.agencies.get(agency_id)
    if agency_state is not None and agency_state.ended_at is not None:
        if at >= agency_state.ended_at:
            return True
    tracked = state.resolved.agency(agency_id)
    return bool(tracked and tracked.valid_until and at >= start_of_day(tracked.valid_until))


def due_actions(state: DirectiveState, now: dt.datetime, calendar: WorkingCalendar) -> list[Action]:
    """What must happen at `now`: every pending action whose time has come, earliest first.

    When several steps of one ladder are due at once (a directive launched after its
    deadlines, or a flow that was down for days), only the latest is done: it supersedes the
    earlier ones, so an agency gets one current escalation, not a backlog of stale ones.
    """
    due = [
        a
        for a in pending_actions(state, calendar)
        if a.due_at <= now and not _to_the_ended(state, a, now)
    ]
    latest: dict[tuple[str | None, ...], Action] = {}
    for action in due:
        if action.kind in LADDER_KINDS:
            ladder = _ladder_of(action)
            if ladder not in latest or action.due_at > latest[ladder].due_at:
                latest[ladder] = action
    return [a for a in due if a.kind not in LADDER_KINDS or latest[_ladder_of(a)] is a]


LADDER_KINDS = frozenset({"remind", "escalate"})


def _ladder_of(action: Action) -> tuple[str | None, ...]:
    return (
        action.cycle,
        action.agency,
        action.obligation,
        action.due.isoformat() if action.due else None,
    )


def next_wakeup(
    state: DirectiveState, now: dt.datetime, calendar: WorkingCalendar
) -> dt.datetime | None:
    """When the next action after `now` falls due; None when nothing more is planned."""
    later = [a.due_at for a in pending_actions(state, calendar) if a.due_at > now]
    return min(later) if later else None


def label(action: Action) -> str:
    return LABELS_VI[action.kind]
