"""Business time only moves forward; an earlier fact is entered now, with the day it happened.

Against a real ledger (SQLite and PostgreSQL): a command dated before the stream's last event
is refused with `OutOfOrder` and nothing is written (the reported case: a report dated before
issuance); an operator's record of a paper report received on 28/11 and entered on 02/12 is
dated 02/12, carries `received` (day, reason, author) and counts as on time; `received_on`
before issuance or after entry is refused, and only an operator may give it. `as_of` is a
prefix in record order and never crashes, even on a stream written by the old code whose
times went back. A live clock that lags behind the stream is moved up to it, not refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from definitions.calendar import TIMEZONE
from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.directives import Directives, replay_stored, to_new_events
from lifecycle import Forbidden, InvalidTransition, OutOfOrder, agency_rows, decide, replay
from lifecycle import commands as c
from lifecycle.commands import operator
from tests.lifecycle.helpers import at, resolved
from tests.pg import throwaway_database

D = "qn-2810-ubnd-kgvx-2023"
CLERK = operator("nguyen-thi-lan")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(sqlite_url_for(tmp_path))
        ensure_schema(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("chidao_time") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        yield engine
        engine.dispose()


def _issued(engine: Engine) -> Directives:
    directives = Directives.over(engine)
    directives.execute(
        D, c.Issue(actor=CLERK, resolved=resolved().model_dump(mode="json")), at(2023, 6, 20),
        key="issue",
    )
    return directives


def _report(agency: str, **extra: object) -> c.SubmitReport:
    actor = extra.pop("actor", agency)
    return c.SubmitReport(
        actor=str(actor), agency=agency, cycle="2023", text="Báo cáo", **extra  # type: ignore[arg-type]
    )


def test_a_report_dated_before_issuance_is_refused_and_nothing_written(engine: Engine) -> None:
    directives = _issued(engine)
    version = directives.store.version(D)
    with pytest.raises(OutOfOrder) as refused:
        directives.execute(D, _report("ubnd-ba-to"), at(2023, 6, 1), key="early")
    assert refused.value.code == "out_of_order"
    assert "20/06/2023" in str(refused.value) and "01/06/2023" in str(refused.value)
    assert directives.store.version(D) == version and directives.store.find("early") is None
    # and as_of at that moment is the empty prefix, not a crash
    assert directives.state(D, as_of=at(2023, 6, 1)).version == 0


def test_any_command_dated_before_the_last_event_is_refused(engine: Engine) -> None:
    directives = _issued(engine)
    directives.execute(D, _report("ubnd-ba-to"), at(2023, 11, 20), key="r1")
    for command in (
        c.Acknowledge(actor="ubnd-son-ha", agency="ubnd-son-ha"),
        _report("ubnd-son-ha"),
        c.WithdrawTask(actor=CLERK, agency="ubnd-ly-son", reason="Rút"),
    ):
        with pytest.raises(OutOfOrder):
            directives.execute(D, command, at(2023, 11, 19), key=f"late-{command.kind}")
    # the same moment is not earlier: allowed
    directives.execute(D, _report("ubnd-son-ha"), at(2023, 11, 20), key="r2")


def test_a_live_clock_behind_the_stream_is_moved_up_not_refused(engine: Engine) -> None:
    directives = _issued(engine)
    directives.execute(D, _report("ubnd-ba-to"), at(2023, 11, 20, 10), key="r1")
    outcome = directives.execute(
        D, _report("ubnd-son-ha"), at(2023, 11, 20, 9), key="r2", live=True
    )
    assert outcome.events[0].business_time == at(2023, 11, 20, 10)


def test_a_paper_report_entered_later_counts_from_the_day_it_was_received(
    engine: Engine,
) -> None:
    directives = _issued(engine)
    entered = dt.datetime(2023, 12, 2, 10, tzinfo=TIMEZONE)
    directives.execute(D, c.Acknowledge(actor="so-gddt", agency="so-gddt"), at(2023, 12, 1), key="a")
    paper = _report(
        "ubnd-ba-to", actor=CLERK, received_on=dt.date(2023, 11, 28),
        received_reason="Văn bản giấy nhận ngày 28/11, nhập muộn do mất điện.",
    )
    outcome = directives.execute(D, paper, entered, key="paper")
    [event] = outcome.events
    assert event.business_time == entered  # dated at entry: time never went back
    assert event.actor == CLERK
    assert event.payload["received"] == {
        "on": "2023-11-28",
        "reason": "Văn bản giấy nhận ngày 28/11, nhập muộn do mất điện.",
        "by": CLERK,
    }
    # a report that came in the ordinary way on 02/12 is late; the paper one is on time
    directives.execute(D, _report("ubnd-son-ha"), entered, key="web")
    state = directives.state(D)
    rows = {r.agency: r.status for r in agency_rows(state, "2023", at(2023, 12, 3))}
    assert rows["ubnd-ba-to"] == "completed_on_time"
    assert rows["ubnd-son-ha"] == "completed_late"
    # as of 30/11 nobody knew of it yet: the prefix recorded by then
    before = agency_rows(directives.state(D, as_of=at(2023, 11, 30)), "2023", at(2023, 11, 30))
    assert {r.agency: r.status for r in before}["ubnd-ba-to"] == "in_progress"
    # an ordinary report keeps the version-1 payload: no `received` key at all
    assert "received" not in directives.events(D)[-1].payload


@pytest.mark.parametrize(
    ("received_on", "actor", "reason", "error", "words"),
    [
        (dt.date(2023, 6, 19), CLERK, "Giấy", OutOfOrder, "before the directive was issued"),
        (dt.date(2023, 12, 3), CLERK, "Giấy", OutOfOrder, "after the day it is entered"),
        (dt.date(2023, 11, 28), "ubnd-ba-to", "Giấy", Forbidden, "only an operator"),
        (dt.date(2023, 11, 28), CLERK, None, InvalidTransition, "needs received_reason"),
    ],
)
def test_a_received_on_out_of_bounds_is_refused(
    engine: Engine,
    received_on: dt.date,
    actor: str,
    reason: str | None,
    error: type[Exception],
    words: str,
) -> None:
    directives = _issued(engine)
    paper = _report("ubnd-ba-to", actor=actor, received_on=received_on, received_reason=reason)
    with pytest.raises(error, match=words):
        directives.execute(D, paper, at(2023, 12, 2), key="paper")
    assert directives.store.find("paper") is None


def test_received_on_the_day_of_issuance_counts_from_issuance_not_midnight() -> None:
    issue = decide(
        replay([]), c.Issue(actor=CLERK, resolved=resolved().model_dump(mode="json")),
        at(2023, 6, 20),
    )
    state = replay(issue)
    paper = _report(
        "ubnd-ba-to", actor=CLERK, received_on=dt.date(2023, 6, 20), received_reason="Giấy"
    )
    [event] = decide(state, paper, at(2023, 6, 22))
    state = replay([*issue, event])
    assert state.cycles["2023"].works["ubnd-ba-to"].reported_at == at(2023, 6, 20)


def test_as_of_never_crashes_on_a_stream_whose_times_went_back(engine: Engine) -> None:
    """What the old code let through: a report dated before issuance, stored after it."""
    directives = _issued(engine)
    report = decide(directives.state(D), _report("ubnd-ba-to"), at(2023, 7, 1))[0]
    early = report.model_copy(update={"at": at(2023, 6, 1)})
    store = directives.store
    store.append(D, store.version(D), to_new_events([early], "old-code"))
    directives.execute(D, _report("ubnd-son-ha"), at(2023, 7, 2), key="later")
    events = directives.events(D)
    for moment in [at(2023, 5, 1), at(2023, 6, 1), at(2023, 6, 20), at(2023, 6, 30), at(2024, 1, 1)]:
        state = directives.state(D, as_of=moment)  # never raises
        prefix = directives.events(D, as_of=moment)
        assert prefix == events[: len(prefix)]  # a prefix, in record order
        assert state.version == len(prefix)
    # the cut is at the first event dated later, so the early report comes with its past ...
    assert [e.type for e in directives.events(D, as_of=at(2023, 6, 30))] == [
        "DirectiveIssued", "CycleOpened", "ReportSubmitted"
    ]
    # ... where a filter by business time (the old as_of) picked it alone, and replay crashed
    alone = store.read(D, business_time_until=at(2023, 6, 1))
    assert [e.idempotency_key for e in alone] == ["old-code"]
    with pytest.raises(KeyError):
        replay_stored(alone)
