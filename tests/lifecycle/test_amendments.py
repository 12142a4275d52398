"""Amending a live directive: each kind of change and its effect on the open cycle (and the next),
as the README's table says; hand-overs and the refusals that leave nothing recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from definitions.calendar import TIMEZONE, default_calendar
from definitions.handover import HandoverSpec
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import resolve
from definitions.schema import Directive, EachYear, Reminder
from lifecycle import DirectiveState, apply, decide, pending_actions
from lifecycle import commands as cmd
from lifecycle import events as ev
from lifecycle.amendment import amend_command, amendment_effect
from lifecycle.errors import InvalidTransition
from lifecycle.inbox import inbox_items
from lifecycle.status import agency_rows

ISSUED = dt.datetime(2023, 6, 20, 9, tzinfo=TIMEZONE)
LATER = dt.datetime(2023, 9, 1, 9, tzinfo=TIMEZONE)


@pytest.fixture(scope="module")
def definition() -> Directive:
    return load_definition(DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml", load_directory())


def _issued(definition: Directive) -> DirectiveState:
    state = DirectiveState()
    resolved = resolve(definition, load_directory()).model_dump(mode="json")
    for event in decide(state, cmd.Issue(actor="operator", resolved=resolved), ISSUED):
        apply(state, event)
    return state


def _amend(
    state: DirectiveState, changed: Directive, at: dt.datetime = LATER, **extra: Any
) -> list[ev.Event]:
    command = amend_command(
        state, changed, load_directory(), extra.get("specs", ()), at.date(), "Sửa đổi thử",
        "Nguyễn Văn A",
    )  # fmt: skip
    events = decide(state, command, at)
    for event in events:
        apply(state, event)
    return events


def _with_assignments(definition: Directive, assignments: tuple[Any, ...]) -> Directive:
    return definition.model_copy(update={"assignments": assignments})


def test_adding_an_agency_gives_it_work_in_the_open_cycle_and_an_issuance_notice(
    definition: Directive,
) -> None:
    state = _issued(definition)
    first = definition.assignments[0]
    added = first.model_copy(
        update={"agencies": (*first.agencies, first.agencies[0].model_copy(update={"agency": "so-vhttdl"}))}
    )
    events = _amend(state, _with_assignments(definition, (added, *definition.assignments[1:])))
    assert [e.type for e in events] == ["DefinitionAmended"]
    amended = events[0]
    assert isinstance(amended, ev.DefinitionAmended)
    assert amended.author == "Nguyễn Văn A" and amended.reason == "Sửa đổi thử"
    work = state.cycles["2023"].works["so-vhttdl"]
    assert work.status == "assigned" and work.due == dt.date(2023, 11, 30)
    keys = {a.key for a in pending_actions(state, default_calendar())}
    assert "qn-2810-ubnd-kgvx-2023:-:so-vhttdl:issue_notice:0" in keys


def test_removing_an_agency_withdraws_its_open_work_with_the_reason(definition: Directive) -> None:
    state = _issued(definition)
    kept = tuple(a for a in definition.assignments if a.section != 3)
    changed = definition.model_copy(
        update={
            "assignments": kept,
            "recipients": tuple(r for r in definition.recipients if r.agency != "hoi-khuyen-hoc-tinh"),
        }
    )
    events = _amend(state, changed)
    withdrawn = [e for e in events if isinstance(e, ev.TaskWithdrawn)]
    assert [(e.agency, e.reason) for e in withdrawn] == [("hoi-khuyen-hoc-tinh", "Sửa đổi thử")]
    assert state.cycles["2023"].works["hoi-khuyen-hoc-tinh"].status == "withdrawn"
    assert not [a for a in pending_actions(state, default_calendar()) if a.agency == "hoi-khuyen-hoc-tinh"]


def test_moving_the_due_date_moves_the_open_cycle_and_its_reminders(definition: Directive) -> None:
    state = _issued(definition)
    reporting = definition.reporting.model_copy(update={"due": EachYear(each_year="15/11")})
    _amend(state, definition.model_copy(update={"reporting": reporting}))
    cycle = state.cycles["2023"]
    assert cycle.report_due == dt.date(2023, 11, 15)
    assert {w.due for w in cycle.works.values()} == {dt.date(2023, 11, 15)}
    reminders = [
        a for a in pending_actions(state, default_calendar())
        if a.kind == "remind" and a.agency == "so-gddt" and a.obligation == "report"
    ]  # fmt: skip
    assert {a.due for a in reminders} == {dt.date(2023, 11, 15)}
    assert min(a.due_at for a in reminders).date() == dt.date(2023, 11, 1)  # 10 working days


def test_an_extension_granted_stands_when_the_date_moves(definition: Directive) -> None:
    state = _issued(definition)
    for command in (
        cmd.RequestExtension(actor="so-gddt", agency="so-gddt", cycle="2023", reason="x",
                             proposed_due=dt.date(2023, 12, 8)),
        cmd.GrantExtension(actor="operator", agency="so-gddt", cycle="2023"),
    ):  # fmt: skip
        for event in decide(state, command, LATER):
            apply(state, event)
    reporting = definition.reporting.model_copy(update={"due": EachYear(each_year="15/11")})
    _amend(state, definition.model_copy(update={"reporting": reporting}))
    assert state.cycles["2023"].works["so-gddt"].due == dt.date(2023, 12, 8)
    assert state.cycles["2023"].works["ubnd-ba-to"].due == dt.date(2023, 11, 15)


def test_changing_the_ladder_replans_the_open_cycle_and_keeps_what_was_sent(
    definition: Directive,
) -> None:
    state = _issued(definition)
    escalation = definition.escalation.model_copy(
        update={"reminders": (Reminder(before=5, unit="days"),)}
    )
    effect = amendment_effect(
        state,
        amend_command(state, definition.model_copy(update={"escalation": escalation}),
                      load_directory(), (), LATER.date(), "Thang nhắc mới", "B"),
        LATER,
    )  # fmt: skip
    assert effect.general and effect.general[0].startswith("ladder: reminders [-10wd, -3wd, -0d]")
    assert "reminders [-5d]" in effect.general[0]
    _amend(state, definition.model_copy(update={"escalation": escalation}))
    reminders = {
        a.due_at.date()
        for a in pending_actions(state, default_calendar())
        if a.kind == "remind" and a.obligation == "report" and a.cycle == "2023"
    }
    assert reminders == {dt.date(2023, 11, 25)}


def test_changing_the_reporting_rule_changes_future_cycles(definition: Directive) -> None:
    state = _issued(definition)
    reporting = definition.reporting.model_copy(update={"last_cycle": 2025})
    _amend(state, definition.model_copy(update={"reporting": reporting}))
    assert [c.id for c in state.definition.cycles] == ["2023", "2024", "2025"]
    assert state.cycles["2023"].status == "open"


def test_an_ended_agency_s_work_must_be_handed_over(definition: Directive) -> None:
    state = _issued(definition)
    after_the_districts = dt.datetime(2025, 7, 2, 9, tzinfo=TIMEZONE)
    version = state.version
    with pytest.raises(InvalidTransition, match="would leave the work of agencies") as refused:
        _amend(state, definition, after_the_districts)
    for ended in ("so-ldtbxh (01/03/2025: ", "ubnd-ba-to (01/07/2025: ", "ubnd-ly-son"):
        assert ended in str(refused.value)
    assert state.version == version  # nothing applied
    events = _amend(
        state, definition, after_the_districts,
        specs=(HandoverSpec.model_validate({"from": "ubnd-cap-huyen", "to": "successors"}),
               HandoverSpec.model_validate({"from": "so-ldtbxh", "to": ["so-noi-vu"]})),
    )  # fmt: skip
    transfers = [e for e in events if isinstance(e, ev.WorkTransferred)]
    assert len(transfers) == 58 and all(e.decided_by == "Nguyễn Văn A" for e in transfers)
    assert state.cycles["2023"].works["ubnd-ba-to"].status == "transferred"
    assert state.cycles["2023"].works["ubnd-ba-to"].transferred_to[0].startswith("ubnd-xa-")
    assert "ubnd-ba-to" not in {a.id for a in state.definition.tracked}
    # the inbox and the status table follow: the successors have the work, the ended do not
    owners = {item.owner for item in inbox_items(state) if item.kind == "report"}
    assert "ubnd-xa-ba-vinh" in owners and "so-noi-vu" in owners
    assert not owners & {"ubnd-ba-to", "so-ldtbxh"}
    rows = {row.agency: row for row in agency_rows(state, "2023", after_the_districts)}
    assert "ubnd-ba-to" not in rows and rows["ubnd-dac-khu-ly-son"].status == "overdue"
    # nothing is planned to, or about, an agency that handed its work over
    planned = pending_actions(state, default_calendar())
    assert not [a for a in planned if {a.agency, a.recipient} & {"ubnd-ba-to", "so-ldtbxh"}]


def test_a_transfer_into_an_ended_agency_is_refused(definition: Directive) -> None:
    state = _issued(definition)
    resolved = resolve(definition, load_directory()).model_dump(mode="json")
    command = cmd.Amend(
        actor="operator",
        resolved=resolved,
        reason="x",
        transfers=(cmd.Transfer(from_agency="so-ldtbxh", to_agency="ubnd-ba-to", basis="x"),),
    )
    with pytest.raises(InvalidTransition, match="ubnd-ba-to ended on 01/07/2025"):
        decide(state, command, dt.datetime(2025, 8, 1, 9, tzinfo=TIMEZONE))
