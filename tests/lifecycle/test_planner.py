"""The planner's one pass: `plan` gives what the definitions of due and next wake-up say.

The reference here is the plain reading of the rules over `pending_actions`: the due actions
are the pending ones at or before `now`, of each ladder (cycle, agency, obligation, due date)
only the latest; the next wake-up is the earliest pending one after `now`.
"""

from __future__ import annotations

import datetime as dt

from definitions.calendar import default_calendar
from lifecycle import DirectiveState, PerformAction, apply, decide, due_actions, next_wakeup
from lifecycle import commands as c
from lifecycle.commands import OPERATOR, SYSTEM
from lifecycle.planner import Action, pending_actions, plan
from tests.lifecycle.helpers import at, resolved


def reference(state: DirectiveState, now: dt.datetime) -> tuple[list[Action], dt.datetime | None]:
    pending = pending_actions(state, default_calendar())
    due = [a for a in pending if a.due_at <= now]
    latest: dict[tuple[object, ...], Action] = {}
    for action in due:
        if action.kind in ("remind", "escalate"):
            ladder = (action.cycle, action.agency, action.obligation, action.due)
            if ladder not in latest or action.due_at > latest[ladder].due_at:
                latest[ladder] = action
    kept = [
        a
        for a in due
        if a.kind not in ("remind", "escalate")
        or latest[(a.cycle, a.agency, a.obligation, a.due)] is a
    ]
    later = [a.due_at for a in pending if a.due_at > now]
    return kept, min(later) if later else None


def check(state: DirectiveState, now: dt.datetime) -> None:
    calendar = default_calendar()
    expected_due, expected_wake = reference(state, now)
    found = plan(state, now, calendar)
    assert list(found.due) == expected_due
    assert found.next_wakeup == expected_wake
    assert due_actions(state, now, calendar) == expected_due
    assert next_wakeup(state, now, calendar) == expected_wake


def test_plan_agrees_with_the_reference_through_a_cycle_with_late_and_silent_agencies() -> None:
    definition = resolved()
    state = DirectiveState()
    checked = 0

    def perform(command: c.AnyCommand, when: dt.datetime) -> None:
        for event in decide(state, command, when):
            apply(state, event)

    perform(c.Issue(actor=OPERATOR, resolved=definition.model_dump(mode="json")), at(2023, 6, 20))
    agencies = [a.id for a in definition.tracked if a.reports]
    now = at(2023, 6, 20)
    reported = False
    while now < at(2024, 1, 31):
        for probe in (now, now + dt.timedelta(days=9), now - dt.timedelta(days=5)):
            check(state, probe)
            checked += 1
        if not reported and now >= at(2023, 11, 20):
            # half report on time; the rest stay silent and are escalated
            for agency in agencies[::2]:
                perform(c.SubmitReport(actor=agency, agency=agency, cycle="2023", text="BC"), now)
            reported = True
        # a flow that was down for a week: several steps of a ladder due at once
        for action in due_actions(state, now, default_calendar()):
            perform(PerformAction(actor=SYSTEM, action=action), now)
        wake = next_wakeup(state, now, default_calendar())
        if wake is None:
            break
        now = max(wake, now + dt.timedelta(days=3))
    assert checked > 20
    assert any(":escalate@" in k for k in state.done_keys)


def test_a_closed_or_unissued_directive_plans_nothing() -> None:
    found = plan(DirectiveState(), at(2023, 6, 20), default_calendar())
    assert found.due == () and found.next_wakeup is None
