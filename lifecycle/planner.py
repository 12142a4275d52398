"""The planner: from a directive's state, what must happen now and when the next thing falls due.

Pure: the time is a parameter and the working-day calendar is passed in. Every action has a
stable idempotency key, `directive:cycle:agency:action:level`, so recording it twice records
it once; an action is pending until an event carrying its key is in the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict

from definitions.calendar import WorkingCalendar, deadline_instant, start_of_day
from definitions.resolve import ResolvedDirective
from definitions.schema import EscalationLevel
from lifecycle.state import FAILURE_SUFFIX, NOTICE_KINDS, CycleState, DirectiveState, Work

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


class _Plan:
    """Collects the actions of one pass over a state.

    With `now` None it keeps every pending action (`pending_actions`); with a `now` it keeps
    the actions due at `now` (of one ladder's due steps, only the latest) and the earliest
    time after `now`, building an `Action` only for what it keeps.
    """

    __slots__ = ("done", "due", "now", "rungs", "wakeup")

    def __init__(self, done: set[str], now: dt.datetime | None) -> None:
        self.done = done
        self.rungs: dict[tuple[str, dt.date], list[_Rung]] = {}
        self.now = now
        self.due: list[Action] = []
        self.wakeup: dt.datetime | None = None

    def _later(self, at: dt.datetime) -> None:
        if self.wakeup is None or at < self.wakeup:
            self.wakeup = at

    def add(self, due_at: dt.datetime, key: str, make: Callable[[], Action]) -> None:
        if key in self.done:
            return
        if self.now is None or due_at <= self.now:
            self.due.append(make())
        else:
            self._later(due_at)

    def ladder(self, steps: list[_Step], make: Callable[[_Step], Action]) -> None:
        """One ladder's steps, earliest first: those not recorded, nor earlier than one that was."""
        done = self.done
        latest_done = max((step[0] for step in steps if step[1] in done), default=None)
        pending = [
            step
            for step in steps
            if step[1] not in done and (latest_done is None or step[0] > latest_done)
        ]
        if self.now is None:
            self.due.extend(make(step) for step in pending)
            return
        now = self.now
        latest: _Step | None = None
        for step in pending:
            if step[0] <= now:
                # the latest due step supersedes the earlier ones; of equals, the first key
                if (
                    latest is None
                    or step[0] > latest[0]
                    or (step[0] == latest[0] and step[1] < latest[1])
                ):
                    latest = step
            else:
                self._later(step[0])
        if latest is not None:
            self.due.append(make(latest))

    def sorted_due(self) -> list[Action]:
        return sorted(self.due, key=lambda a: (a.due_at, a.key))


# (due_at, key, kind, recipient, level, repeat) of one step of a ladder
_Step = tuple[dt.datetime, str, ActionKind, str, int, int]


# one rung of a ladder, the same for every agency with that due date:
# (due_at, kind, "remind@…:tag" without the obligation's suffix split out, level or None, repeat)
_Rung = tuple[dt.datetime, ActionKind, str, str, EscalationLevel | None, int]


def _rungs(
    resolved: ResolvedDirective, calendar: WorkingCalendar, cycle: CycleState, due: dt.date
) -> list[_Rung]:
    """The times of a ladder's reminders and escalations for one due date of one cycle."""
    escalation = resolved.definition.escalation
    due_text = due.isoformat()
    earliest = cycle.opened_at - dt.timedelta(days=1)
    rungs: list[_Rung] = []
    for reminder in escalation.reminders:
        working = reminder.unit == "working_days"
        at_office = _at_office(calendar.shift(due, -reminder.before, working=working))
        if at_office < earliest:
            continue
        tag = f"{reminder.before}{'wd' if working else 'd'}"
        rungs.append((max(at_office, cycle.opened_at), "remind", due_text, tag, None, 0))
    late_from = deadline_instant(due)
    for level in escalation.levels:
        working = level.unit == "working_days"
        first_day = calendar.shift(due, level.after, working=working)
        if level.after == 0:
            first_day = due + dt.timedelta(days=1)
        for repeat in range(level.times):
            day = calendar.shift(first_day, repeat * (level.every or 0), working=working)
            rungs.append(
                (
                    max(_at_office(day), late_from),
                    "escalate",
                    due_text,
                    f"{level.level}.{repeat + 1}",
                    level,
                    repeat + 1,
                )
            )
    return rungs


def _ladder(
    plan: _Plan,
    resolved: ResolvedDirective,
    calendar: WorkingCalendar,
    *,
    cycle: CycleState,
    agency_id: str,
    obligation: Literal["report", "consolidation"],
    due: dt.date,
    requested_only: bool,
    ends_at: dt.datetime | None = None,
) -> None:
    """Reminders before `due` and escalations after it, for one obligation still open; none
    from `ends_at` on (the agency has ended, or handed its work over, by then)."""
    if ends_at is not None and plan.now is not None and plan.now >= ends_at:
        return
    directive_id = resolved.definition.id
    tracked = resolved.agency(agency_id)
    # a consolidator that is not itself tracked answers to whom it consolidates for
    answers_to = tracked.answers_to if tracked else resolved.consolidation_to
    cache_key = (cycle.id, due)
    rungs = plan.rungs.get(cache_key)
    if rungs is None:
        rungs = plan.rungs[cache_key] = _rungs(resolved, calendar, cycle, due)
    suffix = "" if obligation == "report" else "-consolidation"
    prefix = f"{directive_id}:{cycle.id}:{agency_id}:"
    steps: list[_Step] = []
    for due_at, kind, due_text, tag, level, repeat in rungs:
        if ends_at is not None and due_at >= ends_at:
            continue
        target = agency_id
        if level is not None:
            if requested_only:  # a request (`đề nghị`) is not escalated past a reminder
                break
            to = _escalation_target(level, agency_id, answers_to)
            if to is None:
                continue
            target = to
        steps.append(
            (
                due_at,
                f"{prefix}{kind}{suffix}@{due_text}:{tag}",
                kind,
                target,
                level.level if level else 0,
                repeat,
            )
        )

    def make(step: _Step) -> Action:
        due_at, key, kind, recipient, level_number, repeat_number = step
        return Action(
            kind=kind,
            key=key,
            directive=directive_id,
            due_at=due_at,
            cycle=cycle.id,
            agency=agency_id,
            recipient=recipient,
            obligation=obligation,
            due=due,
            level=level_number,
            repeat=repeat_number,
        )

    plan.ladder(steps, make)


def ends_at(state: DirectiveState, agency_id: str) -> dt.datetime | None:
    """When `agency_id` stops receiving anything on this directive: the start of its
    directory end date (`valid_until`, as resolved) or the hand-over of its work, if sooner."""
    found: list[dt.datetime] = []
    agency_state = state.agencies.get(agency_id)
    if agency_state is not None and agency_state.ended_at is not None:
        found.append(agency_state.ended_at)
    tracked = state.resolved.agency(agency_id) if state.resolved else None
    if tracked is not None and tracked.valid_until is not None:
        found.append(start_of_day(tracked.valid_until))
    return min(found) if found else None


def _work_open(work: Work) -> bool:
    return work.status in ("assigned", "returned")


def _cycle_actions(
    plan: _Plan,
    resolved: ResolvedDirective,
    cycle: CycleState,
    calendar: WorkingCalendar,
    state: DirectiveState,
) -> None:
    directive_id = resolved.definition.id
    if cycle.status == "closed":
        return
    for work in cycle.works.values():
        if not _work_open(work):
            continue
        tracked = resolved.agency(work.agency)
        _ladder(
            plan,
            resolved,
            calendar,
            cycle=cycle,
            agency_id=work.agency,
            obligation="report",
            due=work.due,
            requested_only=bool(tracked and tracked.requested_only),
            ends_at=ends_at(state, work.agency),
        )
    consolidator = resolved.consolidator
    if consolidator and cycle.status in ("open", "consolidation_requested"):
        key = action_key(directive_id, cycle.id, consolidator, "request_consolidation", 0)
        if key not in plan.done:
            reporting = [
                w for w in cycle.works.values() if w.status not in ("withdrawn", "transferred")
            ]
            completions = [w.completed_at for w in reporting]
            due_at = deadline_instant(cycle.report_due) + OFFICE_HOUR
            if reporting and all(completions):
                due_at = min(due_at, max(c for c in completions if c is not None))
            due_at = max(due_at, cycle.opened_at)
            plan.add(
                due_at,
                key,
                lambda: Action(
                    kind="request_consolidation",
                    key=key,
                    directive=directive_id,
                    due_at=due_at,
                    cycle=cycle.id,
                    agency=consolidator,
                    recipient=consolidator,
                    due=cycle.consolidation_due,
                ),
            )
        if cycle.consolidation_due is not None:
            _ladder(
                plan,
                resolved,
                calendar,
                cycle=cycle,
                agency_id=consolidator,
                obligation="consolidation",
                due=cycle.consolidation_due,
                requested_only=False,
            )
    consolidated = cycle.status == "consolidated" or (
        consolidator is None and all(not _work_open(w) for w in cycle.works.values())
    )
    if consolidated:
        close_key = action_key(directive_id, cycle.id, None, "close_cycle", 0)
        closing_at = cycle.consolidated_at or max(
            (w.completed_at for w in cycle.works.values() if w.completed_at),
            default=cycle.opened_at,
        )
        plan.add(
            closing_at,
            close_key,
            lambda: Action(
                kind="close_cycle",
                key=close_key,
                directive=directive_id,
                due_at=closing_at,
                cycle=cycle.id,
                recipient=resolved.issuer.id,
            ),
        )


def _next_cycle_actions(plan: _Plan, resolved: ResolvedDirective, state: DirectiveState) -> None:
    directive_id = resolved.definition.id
    opened = [c for c in resolved.cycles if c.id in state.cycles]
    if not opened:
        return
    last = opened[-1]
    following = [c for c in resolved.cycles if c.index == last.index + 1]
    if not following:
        if all(c.status == "closed" for c in state.cycles.values()):
            closed_at = max(c.closed_at for c in state.cycles.values() if c.closed_at)
            key = action_key(directive_id, None, None, "close_directive", 0)
            plan.add(
                closed_at,
                key,
                lambda: Action(
                    kind="close_directive",
                    key=key,
                    directive=directive_id,
                    due_at=closed_at,
                    recipient=resolved.issuer.id,
                ),
            )
        return
    nxt = following[0]
    previous = state.cycles[last.id]
    due_at = start_of_day(nxt.period_start)
    if previous.closed_at is not None:
        due_at = min(due_at, previous.closed_at)
    due_at = max(due_at, previous.opened_at)
    open_key = action_key(directive_id, nxt.id, None, "open_cycle", 0)
    plan.add(
        due_at,
        open_key,
        lambda: Action(
            kind="open_cycle", key=open_key, directive=directive_id, due_at=due_at, cycle=nxt.id
        ),
    )


def _notice_actions(plan: _Plan, resolved: ResolvedDirective, state: DirectiveState) -> None:
    directive_id = resolved.definition.id
    for key, pending in state.pending_notices.items():
        notice_kind = NOTICE_KINDS[pending.event_type]
        recipient = pending.agency or resolved.consolidator
        plan.add(
            pending.at,
            key,
            partial(
                Action,
                kind="notice",
                key=key,
                directive=directive_id,
                due_at=pending.at,
                cycle=pending.cycle,
                agency=recipient,
                recipient=recipient,
                notice_kind=notice_kind,
                event_version=pending.version,
            ),
        )


def _delivery_failed_actions(
    plan: _Plan, resolved: ResolvedDirective, state: DirectiveState
) -> None:
    directive_id = resolved.definition.id
    for notification in state.pending_failures.values():
        key = f"{notification.key}{FAILURE_SUFFIX}"
        tracked = resolved.agency(notification.recipient)
        plan.add(
            notification.at,
            key,
            partial(
                Action,
                kind="delivery_failed",
                key=key,
                directive=directive_id,
                due_at=notification.at,
                agency=notification.recipient,
                recipient=(
                    tracked.answers_to if tracked and tracked.answers_to else resolved.issuer.id
                ),
                notice_kind=notification.kind,
            ),
        )


def _pass(state: DirectiveState, calendar: WorkingCalendar, plan: _Plan) -> None:
    """Walk the state once, giving every action it calls for to `plan`."""
    if state.status != "active" or state.resolved is None:
        return
    resolved = state.resolved
    issued_at = state.issued_at or state.last_event_at
    assert issued_at is not None  # an active directive was issued
    directive_id = resolved.definition.id
    for agency in resolved.tracked:
        agency_state = state.agencies.get(agency.id)
        key = action_key(directive_id, None, agency.id, "issue_notice", 0)
        gone = agency_state is not None and (agency_state.withdrawn_at or agency_state.ended_at)
        if key not in plan.done and not gone:
            plan.add(
                issued_at,
                key,
                partial(
                    Action,
                    kind="issue_notice",
                    key=key,
                    directive=directive_id,
                    due_at=issued_at,
                    agency=agency.id,
                    recipient=agency.id,
                ),
            )
    for cycle in state.cycles.values():
        _cycle_actions(plan, resolved, cycle, calendar, state)
    _next_cycle_actions(plan, resolved, state)
    _notice_actions(plan, resolved, state)
    _delivery_failed_actions(plan, resolved, state)


class Plan(BaseModel):
    """What one pass over a state says: the actions due now, and when the next one falls due."""

    model_config = ConfigDict(frozen=True)

    due: tuple[Action, ...]
    next_wakeup: dt.datetime | None


def plan(state: DirectiveState, now: dt.datetime, calendar: WorkingCalendar) -> Plan:
    """`due_actions` and `next_wakeup` at once, from one pass over the state.

    When several steps of one ladder are due at once (a directive launched after its
    deadlines, or a flow that was down for days), only the latest is done: it supersedes the
    earlier ones, so an agency gets one current escalation, not a backlog of stale ones.
    """
    collected = _Plan(state.done_keys, now)
    _pass(state, calendar, collected)
    return Plan(due=tuple(collected.sorted_due()), next_wakeup=collected.wakeup)


def pending_actions(state: DirectiveState, calendar: WorkingCalendar) -> list[Action]:
    """Every action the state calls for and that has not been recorded, due now or later."""
    collected = _Plan(state.done_keys, None)
    _pass(state, calendar, collected)
    return collected.sorted_due()


def due_actions(state: DirectiveState, now: dt.datetime, calendar: WorkingCalendar) -> list[Action]:
    """What must happen at `now`: every pending action whose time has come, earliest first.

    Of one ladder's steps due at once only the latest is given (see `plan`).
    """
    return list(plan(state, now, calendar).due)


def next_wakeup(
    state: DirectiveState, now: dt.datetime, calendar: WorkingCalendar
) -> dt.datetime | None:
    """When the next action after `now` falls due; None when nothing more is planned."""
    return plan(state, now, calendar).next_wakeup


def label(action: Action) -> str:
    return LABELS_VI[action.kind]
