"""decide's refusals name what is wrong; the planner respects `đề nghị` and the pure rules."""

from __future__ import annotations

import datetime as dt

import pytest

from definitions.calendar import default_calendar
from lifecycle import DirectiveState, Forbidden, InvalidTransition, NotFound, apply, decide, evolve
from lifecycle import commands as c
from lifecycle.commands import OPERATOR
from tests.lifecycle.helpers import D5185, advance, at, resolved


def issued(path=None) -> DirectiveState:  # type: ignore[no-untyped-def]
    state = DirectiveState()
    r = resolved(path) if path else resolved()
    issued_on = r.definition.issued_on
    when = at(issued_on.year, issued_on.month, issued_on.day)
    for event in decide(state, c.Issue(actor=OPERATOR, resolved=r.model_dump(mode="json")), when):
        apply(state, event)
    return state


def run(state: DirectiveState, command: c.AnyCommand, when: dt.datetime) -> DirectiveState:
    for event in decide(state, command, when):
        state = evolve(state, event)
    return state


def test_accepting_a_report_never_submitted_is_refused_with_the_reason() -> None:
    state = issued()
    with pytest.raises(
        InvalidTransition,
        match="can't accept the report of so-ldtbxh for cycle 2023: it was never submitted",
    ):
        decide(
            state, c.AcceptReport(actor="so-gddt", agency="so-ldtbxh", cycle="2023"), at(2023, 7, 1)
        )


def test_only_the_consolidator_reviews_and_only_the_issuer_grants() -> None:
    state = issued()
    state = run(
        state,
        c.SubmitReport(actor="so-ldtbxh", agency="so-ldtbxh", cycle="2023", text="x"),
        at(2023, 7, 1),
    )
    with pytest.raises(Forbidden):
        decide(
            state,
            c.AcceptReport(actor="ubnd-ly-son", agency="so-ldtbxh", cycle="2023"),
            at(2023, 7, 2),
        )
    state = run(
        state,
        c.RequestExtension(
            actor="ubnd-ly-son",
            agency="ubnd-ly-son",
            cycle="2023",
            reason="r",
            proposed_due=dt.date(2023, 12, 20),
        ),
        at(2023, 7, 2),
    )
    with pytest.raises(Forbidden):
        decide(
            state,
            c.GrantExtension(actor="so-gddt", agency="ubnd-ly-son", cycle="2023"),
            at(2023, 7, 3),
        )
    with pytest.raises(Forbidden):
        decide(
            state,
            c.SubmitReport(actor="so-gddt", agency="ubnd-ly-son", cycle="2023", text="x"),
            at(2023, 7, 3),
        )


def test_unknown_agency_item_and_cycle_are_not_found() -> None:
    state = issued()
    with pytest.raises(NotFound, match="so-xyz"):
        decide(state, c.Acknowledge(actor="so-xyz", agency="so-xyz"), at(2023, 7, 1))
    with pytest.raises(NotFound, match="item 9z"):
        decide(state, c.CompleteItem(actor="so-gddt", agency="so-gddt", item="9z"), at(2023, 7, 1))
    with pytest.raises(NotFound, match="no reporting cycle 1999"):
        decide(
            state,
            c.SubmitReport(actor="so-gddt", agency="so-gddt", cycle="1999", text="x"),
            at(2023, 7, 1),
        )
    with pytest.raises(InvalidTransition, match=r"cycle 2025 .* is not open"):
        decide(
            state,
            c.SubmitReport(actor="so-gddt", agency="so-gddt", cycle="2025", text="x"),
            at(2023, 7, 1),
        )


def test_a_closed_directive_refuses_commands_and_issuing_twice_is_refused() -> None:
    state = issued()
    with pytest.raises(InvalidTransition, match="already issued"):
        decide(
            state,
            c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")),
            at(2023, 6, 21),
        )
    state = run(state, c.CloseDirective(actor=OPERATOR, reason="thu hồi"), at(2023, 7, 1))
    with pytest.raises(InvalidTransition, match="is closed"):
        decide(state, c.Acknowledge(actor="so-gddt", agency="so-gddt"), at(2023, 7, 2))


def test_decide_does_not_touch_the_state_it_is_given() -> None:
    state = issued()
    before = evolve(
        state, decide(state, c.Acknowledge(actor="so-gddt", agency="so-gddt"), at(2023, 7, 1))[0]
    )
    assert state.agencies["so-gddt"].acknowledged_at is None
    assert before.agencies["so-gddt"].acknowledged_at == at(2023, 7, 1)


def test_requested_agencies_get_reminders_but_no_escalation() -> None:
    state = issued(D5185)
    advance(state, at(2021, 12, 31))
    front = "ub-mttq-tinh"
    keys = [k for k in state.done_keys if f":{front}:" in k]
    assert any(":remind@" in k for k in keys)
    assert not any(":escalate@" in k for k in keys)
    district = [k for k in state.done_keys if ":ubnd-ly-son:escalate@" in k]
    assert district


def test_the_planner_is_pure_of_the_clock() -> None:
    state = issued()
    from lifecycle import due_actions, next_wakeup

    calendar = default_calendar()
    assert [a.key for a in due_actions(state, at(2023, 6, 20), calendar)] == [
        a.key for a in due_actions(state, at(2023, 6, 20), calendar)
    ]
    wake = next_wakeup(state, at(2023, 6, 21), calendar)
    assert wake is not None and wake.date() == dt.date(2023, 11, 16)  # 10 working days before 30/11


def test_a_late_launch_sends_one_current_step_per_ladder_not_a_backlog() -> None:
    from collections import Counter

    from lifecycle import PerformAction, due_actions
    from lifecycle.commands import SYSTEM

    state = DirectiveState()
    late = at(2024, 3, 1)  # 2810 launched after its 2023 deadlines had passed
    for event in decide(
        state, c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")), late
    ):
        apply(state, event)
    calendar = default_calendar()
    due = due_actions(state, late, calendar)
    per_ladder = Counter(
        (a.cycle, a.agency, a.obligation) for a in due if a.kind in ("remind", "escalate")
    )
    assert per_ladder and max(per_ladder.values()) == 1
    silent = [a for a in due if a.agency == "ubnd-ly-son" and a.kind == "escalate"]
    assert [(a.level, a.repeat) for a in silent] == [
        (2, 2)
    ]  # the latest step, not 1.1, 2.1 and 2.2
    for action in due:
        for event in decide(state, PerformAction(actor=SYSTEM, action=action), late):
            apply(state, event)
    # the earlier steps are superseded, not left pending
    assert not [a for a in due_actions(state, late, calendar) if a.kind in ("remind", "escalate")]


def test_a_stale_run_with_an_earlier_clock_finds_nothing_to_do() -> None:
    from lifecycle import due_actions

    state = issued()
    advance(state, at(2023, 12, 20))
    version = state.version
    for earlier in (at(2023, 6, 20), at(2023, 11, 20), at(2023, 12, 1)):
        assert due_actions(state, earlier, default_calendar()) == []
    assert state.version == version
