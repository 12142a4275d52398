"""Explanation requests (yêu cầu giải trình): who may ask, when, the answer, the ladder's own
request at a level, and what the statistics count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from definitions.calendar import default_calendar
from definitions.schema import Directive
from lifecycle import DirectiveState, Forbidden, InvalidTransition, apply, decide
from lifecycle import commands as c
from lifecycle.commands import OPERATOR
from lifecycle.stats import Period, duties, tally
from tests.lifecycle.helpers import advance, at, resolved

AGENCY = "ubnd-ba-to"
ASK = "Đề nghị giải trình lý do chậm báo cáo."


def _issued(resolved_json: dict[str, Any] | None = None) -> DirectiveState:
    state = DirectiveState()
    payload = resolved_json or resolved().model_dump(mode="json")
    for event in decide(state, c.Issue(actor=OPERATOR, resolved=payload), at(2023, 6, 20)):
        apply(state, event)
    return state


def _do(state: DirectiveState, command: c.AnyCommand, when: dt.datetime) -> list[Any]:
    found = decide(state, command, when)
    for event in found:
        apply(state, event)
    return found


def _ask(due: dt.date = dt.date(2023, 12, 15), actor: str = "operator:lanh.dao") -> c.RequestExplanation:
    return c.RequestExplanation(actor=actor, agency=AGENCY, cycle="2023", due=due, text=ASK)


def test_an_operator_asks_a_late_agency_and_it_answers_once() -> None:
    state = _issued()
    with pytest.raises(InvalidTransition, match="not late"):
        decide(state, _ask(), at(2023, 11, 30, 20))  # its due day has not ended
    with pytest.raises(Forbidden):
        decide(state, _ask(actor="ubnd-ly-son"), at(2023, 12, 5))  # an agency asks nobody
    with pytest.raises(InvalidTransition, match="not after today"):
        decide(state, _ask(due=dt.date(2023, 12, 5)), at(2023, 12, 5))
    [asked] = _do(state, _ask(), at(2023, 12, 5))
    assert (asked.type, asked.actor, asked.due) == ("ExplanationRequested", "operator:lanh.dao",
                                                   dt.date(2023, 12, 15))  # fmt: skip
    with pytest.raises(InvalidTransition, match="not answered yet"):
        decide(state, _ask(), at(2023, 12, 6))
    answer = c.GiveExplanation(actor=AGENCY, agency=AGENCY, cycle="2023", text="Thiếu cán bộ.")
    with pytest.raises(Forbidden):
        decide(state, answer.model_copy(update={"actor": "ubnd-ly-son"}), at(2023, 12, 6))
    [given] = _do(state, answer, at(2023, 12, 6))
    assert (given.type, given.actor) == ("ExplanationGiven", AGENCY)
    with pytest.raises(InvalidTransition, match="already given"):
        decide(state, answer, at(2023, 12, 7))
    [x] = state.cycles["2023"].works[AGENCY].explanations
    assert (x.answered, x.answer, x.requested_by) == (True, "Thiếu cán bộ.", "operator:lanh.dao")
    # a report submitted on time leaves nothing to explain
    fresh = _issued()
    _do(fresh, c.SubmitReport(actor="ubnd-ly-son", agency="ubnd-ly-son", cycle="2023", text="x"),
        at(2023, 11, 20))  # fmt: skip
    with pytest.raises(InvalidTransition, match="not late"):
        decide(fresh, _ask().model_copy(update={"agency": "ubnd-ly-son"}), at(2023, 12, 5))


def test_the_statistics_count_explanations_asked_and_answered() -> None:
    state = _issued()
    _do(state, _ask(), at(2023, 12, 5))
    _do(state, _ask().model_copy(update={"agency": "ubnd-ly-son"}), at(2023, 12, 5))
    _do(state, c.GiveExplanation(actor=AGENCY, agency=AGENCY, cycle="2023", text="Vì…"),
        at(2023, 12, 6))  # fmt: skip
    figures = tally(duties(state), Period(dt.date(2023, 1, 1), dt.date(2023, 12, 31)),
                    at(2023, 12, 7), default_calendar())["report"]  # fmt: skip
    rows = {f.key: f.as_dict() for f in figures}
    assert (rows["*"]["explanations_asked"], rows["*"]["explanations_answered"]) == (2, 1)
    assert (rows[AGENCY]["explanations_asked"], rows[AGENCY]["explanations_answered"]) == (1, 1)
    assert (rows["ubnd-ly-son"]["explanations_asked"],
            rows["ubnd-ly-son"]["explanations_answered"]) == (1, 0)  # fmt: skip


def _with_ladder_explanation(schema_version: int) -> dict[str, Any]:
    data = resolved().model_dump(mode="json")
    data["definition"]["schema_version"] = schema_version
    data["definition"]["escalation"]["levels"][1]["explanation"] = {"within": 7, "text": None}
    return data


def test_a_level_of_the_ladder_asks_for_an_explanation_once() -> None:
    state = _issued(_with_ladder_explanation(2))
    advance(state, at(2024, 1, 10))
    work = state.cycles["2023"].works[AGENCY]
    # level 2 (after 5 working days, repeated twice) asks once, when first raised: 07/12/2023
    [x] = work.explanations
    assert (x.level, x.requested_by, x.due) == (2, "system", dt.date(2023, 12, 14))
    assert work.escalation_level == 2
    # the acceptance directive as it is asks for none
    plain = _issued()
    advance(plain, at(2024, 1, 10))
    assert plain.cycles["2023"].works[AGENCY].explanations == []


def test_a_version_1_definition_may_not_use_the_option() -> None:
    data = _with_ladder_explanation(1)["definition"]
    with pytest.raises(ValidationError, match="schema_version: 2"):
        Directive.model_validate(data)
    assert Directive.model_validate({**data, "schema_version": 2}).schema_version == 2
