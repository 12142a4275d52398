"""Random command sequences at random times: every prefix of the stream replays, and equals the live state.

Hypothesis draws a sequence of commands (agencies acknowledging, reporting, asking for and
getting extensions, reviews, withdrawals, moved deadlines, an operator's paper reports with
`received_on`, planner actions) with times that jump forward and sometimes back. They run
through `Directives.execute` on a real SQLite file and a real PostgreSQL. Then: business
times never decrease along the stream; a command dated before the last event was refused
with nothing written; every prefix of the stream replays without error and equals the live
state after that command; and `state(as_of=T)` at and around every moment is that prefix.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from definitions.calendar import TIMEZONE, default_calendar
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives, replay_stored
from lifecycle import DirectiveState, OutOfOrder, PerformAction, Refused, due_actions
from lifecycle import commands as c
from lifecycle.commands import SYSTEM, operator
from tests.lifecycle.helpers import resolved
from tests.pg import throwaway_database

D = "qn-2810-ubnd-kgvx-2023"
CLERK = operator("tran-van-binh")
START = dt.datetime(2023, 6, 20, 9, tzinfo=TIMEZONE)
AGENCIES = ["ubnd-ba-to", "ubnd-son-ha", "so-ldtbxh", "hoi-khuyen-hoc-tinh", "ubnd-ly-son"]
KINDS = [
    "ack", "report", "paper", "extension", "grant", "refuse", "accept", "return", "withdraw",
    "move", "planner", "consolidate",
]

step = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(AGENCIES),
    # hours from the previous step's time: mostly forward (a few days to weeks), sometimes back
    st.one_of(st.integers(-96, -1), st.integers(0, 24 * 30), st.integers(24 * 30, 24 * 120)),
    st.integers(0, 40),  # days: extension asked, paper report's age, moved deadline
)


def _command(kind: str, agency: str, when: dt.datetime, days: int) -> c.AnyCommand | None:
    day = when.astimezone(TIMEZONE).date()
    match kind:
        case "ack":
            return c.Acknowledge(actor=agency, agency=agency)
        case "report":
            return c.SubmitReport(actor=agency, agency=agency, cycle="2023", text="Báo cáo")
        case "paper":
            return c.SubmitReport(
                actor=CLERK, agency=agency, cycle="2023", text="Báo cáo giấy",
                received_on=day - dt.timedelta(days=days), received_reason="Nhận bằng giấy",
            )
        case "extension":
            return c.RequestExtension(
                actor=agency, agency=agency, cycle="2023", reason="Xin gia hạn",
                proposed_due=dt.date(2023, 11, 30) + dt.timedelta(days=days + 1),
            )
        case "grant":
            return c.GrantExtension(actor="ubnd-tinh", agency=agency, cycle="2023")
        case "refuse":
            return c.RefuseExtension(actor="ubnd-tinh", agency=agency, cycle="2023", reason="Không")
        case "accept":
            return c.AcceptReport(actor="so-gddt", agency=agency, cycle="2023")
        case "return":
            return c.ReturnReport(actor="so-gddt", agency=agency, cycle="2023", reason="Thiếu")
        case "withdraw":
            return c.WithdrawTask(actor=CLERK, agency=agency, reason="Rút")
        case "move":
            return c.MoveDeadline(
                actor=CLERK, cycle="2023", agency=agency,
                new_due=dt.date(2023, 11, 1) + dt.timedelta(days=days), reason="Dời hạn",
            )
        case "consolidate":
            return c.SubmitConsolidatedReport(actor="so-gddt", cycle="2023", text="Tổng hợp")
    return None  # "planner": the due actions, performed


class Run:
    """Executes the drawn steps, keeping the live state after every version."""

    def __init__(self, directives: Directives) -> None:
        self.directives = directives
        self.live: dict[int, DirectiveState] = {}
        self.moments: list[dt.datetime] = []
        self.keys = 0

    def execute(self, command: c.AnyCommand, when: dt.datetime) -> None:
        self.keys += 1
        before = self.directives.store.version(D)
        last = self.live[max(self.live)].last_event_at if self.live else None
        backdated = last is not None and when < last
        try:
            outcome = self.directives.execute(D, command, when, key=f"k{self.keys}")
        except OutOfOrder:
            # dated before the last event, or a received_on outside issuance..entry
            assert backdated or getattr(command, "received_on", None) is not None
            assert self.directives.store.version(D) == before  # nothing written
            return
        except Refused:
            assert not backdated, "a backdated command was refused for another reason first"
            assert self.directives.store.version(D) == before
            return
        assert not backdated, f"a command dated {when} before {last} was recorded"
        self.live[outcome.state.version] = outcome.state
        self.moments.append(when)

    def planner(self, when: dt.datetime) -> None:
        for _ in range(10):
            state = self.directives.state(D)
            actions = due_actions(state, when, default_calendar())
            if not actions:
                return
            for action in actions:
                self.execute(PerformAction(actor=SYSTEM, action=action), when)


def _check(directives: Directives, run: Run) -> None:
    events = directives.events(D)
    times = [e.business_time for e in events]
    assert times == sorted(times), "business time went back in the stream"
    for length in range(len(events) + 1):
        state = replay_stored(events[:length])  # never raises
        if length in run.live:
            assert state == run.live[length], f"the prefix of {length} events differs from live"
    tick = dt.timedelta(microseconds=1)
    for moment in {m + d for m in [*run.moments, START] for d in (-tick, dt.timedelta(), tick)}:
        prefix = directives.events(D, as_of=moment)
        assert prefix == events[: len(prefix)]
        assert all(e.business_time <= moment for e in prefix)
        assert len(prefix) == len(events) or events[len(prefix)].business_time > moment
        state = directives.state(D, as_of=moment)
        assert state.version == len(prefix)
        if len(prefix) in run.live:
            assert state == run.live[len(prefix)]


def _play(engine: Engine, steps: list[tuple[str, str, int, int]]) -> None:
    directives = Directives.over(engine)
    run = Run(directives)
    run.execute(c.Issue(actor=CLERK, resolved=resolved().model_dump(mode="json")), START)
    when = START
    for kind, agency, hours, days in steps:
        when = when + dt.timedelta(hours=hours)
        command = _command(kind, agency, when, days)
        if command is None:
            run.planner(when)
        else:
            run.execute(command, when)
        if hours < 0:
            when = when - dt.timedelta(hours=hours)  # a refused step does not move time back
    _check(directives, run)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite ledger, copied for each example."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    engine.dispose()
    return path


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_every_prefix_replays_on_sqlite(template: Path, steps: list[Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="chidao-prefix-"))
    try:
        shutil.copyfile(template, folder / "ledger.db")
        engine = make_engine(f"sqlite:///{folder / 'ledger.db'}")
        try:
            _play(engine, steps)
        finally:
            engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    with throwaway_database("chidao_prefix") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        yield engine
        engine.dispose()


@pytest.mark.postgres
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_every_prefix_replays_on_postgres(pg_engine: Engine, steps: list[Any]) -> None:
    with pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE events, outbox, agency_secrets, webhook_requests"))
    _play(pg_engine, steps)
