"""Property: over random command sequences, on SQLite and PostgreSQL, after every step (a
command, an amendment, or the planner's due actions at a later time) the state read as
snapshot + tail equals the replay from nothing and what the projections say (the inbox, the
directive rows and the works rows, and the status the faces show from them); and a crash
between any two writes of a command — at a named boundary (after the append, after the
writers, before the commit) or before any one of its SQL writes (the definition, the
snapshot, a projection row) — leaves nothing of it and all of them equal (one transaction).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select, text

from chidao.cli.flow_cmd import projected_status, status_as_json
from definitions.calendar import default_calendar
from ledger.db import ensure_schema, make_engine
from ledger.definitions_store import check_definitions
from ledger.directives import Directives, replay_stored
from ledger.projections import check as check_projections
from ledger.projections import work_rows
from ledger.snapshots import check_snapshots
from ledger.tables import metadata, projection_works
from lifecycle import PerformAction, Refused, due_actions
from lifecycle import commands as c
from lifecycle.commands import OPERATOR, SYSTEM
from tests.lifecycle.helpers import at, resolved

D = "qn-2810-ubnd-kgvx-2023"
AGENCIES = ["so-ldtbxh", "ubnd-ba-to", "ubnd-ly-son", "hoi-khuyen-hoc-tinh"]
REVIEWER, ISSUER = "so-gddt", "ubnd-tinh"
CRASH_POINTS = ["execute.appended", "execute.written", "execute.before-commit"]
# a crash before the n-th INSERT, UPDATE or DELETE of the command's transaction
Crash = tuple[str, int] | str | None


class Crashed(Exception):
    """Stands for the process dying at a boundary."""


class WriteCounter:
    """Raises Crashed before the `at`-th write statement while armed (a SQLAlchemy hook)."""

    def __init__(self) -> None:
        self.at: int | None = None
        self.seen = 0

    def arm(self, at: int | None) -> None:
        self.at, self.seen = at, 0

    def __call__(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if self.at is None or not statement.lstrip().upper().startswith(WRITES):
            return
        self.seen += 1
        if self.seen == self.at:
            self.at = None
            raise Crashed(f"before write {self.seen}: {statement[:60]}")


WRITES = ("INSERT", "UPDATE", "DELETE")


def command_of(kind: str, agency: str) -> c.AnyCommand:
    cycle = "2023"
    match kind:
        case "ack":
            return c.Acknowledge(actor=agency, agency=agency)
        case "report":
            return c.SubmitReport(actor=agency, agency=agency, cycle=cycle, text="Báo cáo")
        case "accept":
            return c.AcceptReport(actor=REVIEWER, agency=agency, cycle=cycle)
        case "return":
            return c.ReturnReport(actor=REVIEWER, agency=agency, cycle=cycle, reason="Bổ sung")
        case "extend":
            return c.RequestExtension(
                actor=agency, agency=agency, cycle=cycle, reason="Chờ số liệu",
                proposed_due=dt.date(2023, 12, 15),
            )
        case "grant":
            return c.GrantExtension(actor=ISSUER, agency=agency, cycle=cycle)
        case "refuse":
            return c.RefuseExtension(actor=ISSUER, agency=agency, cycle=cycle, reason="Không")
        case "move":
            return c.MoveDeadline(
                actor=ISSUER, cycle=cycle, agency=agency, new_due=dt.date(2023, 12, 8),
                reason="Theo đề nghị",
            )
        case "amend":
            return c.Amend(actor=OPERATOR, resolved=amended(), reason="Lùi hạn báo cáo")
        case _:
            return c.WithdrawTask(actor=ISSUER, agency=agency, reason="Sáp nhập")


def amended() -> dict[str, object]:
    """2810 with its 2023 report due a week later (a definition of its own, by hash)."""
    issued = resolved()
    first = issued.cycles[0].model_copy(update={"report_due": dt.date(2023, 12, 7)})
    return issued.model_copy(update={"cycles": (first, *issued.cycles[1:])}).model_dump(
        mode="json"
    )


crash = (
    st.none()
    | st.sampled_from(CRASH_POINTS)
    | st.tuples(st.just("write"), st.integers(min_value=1, max_value=12))
)
step = st.one_of(
    st.tuples(
        st.sampled_from(["ack", "report", "accept", "return", "extend", "grant", "refuse",
                         "withdraw", "move", "amend"]),
        st.sampled_from(AGENCIES),
        crash,
    ),
    st.tuples(st.just("plan"), st.integers(min_value=1, max_value=60), crash),
)


def check_equal(directives: Directives, now: dt.datetime) -> None:
    engine = directives.store.engine
    replayed = replay_stored(directives.events(D))
    assert directives.state(D) == replayed
    assert check_snapshots(engine) == []
    assert check_projections(engine) == []  # the inbox, directive and works rows
    assert check_definitions(engine) == []
    with engine.connect() as conn:
        stored = {(r.cycle, r.agency) for r in conn.execute(select(projection_works))}
    assert stored == set(work_rows(replayed))
    # what the faces show from the projections is what they showed from the state
    assert projected_status(engine, D, now) == status_as_json(replayed, now)


def run(engine: Engine, steps: list[tuple[object, object, Crash]]) -> None:
    directives = Directives.over(engine, snapshot_every=3)
    issue = c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json"))
    directives.execute(D, issue, at(2023, 6, 20), key="issue")
    writes = WriteCounter()
    event.listen(engine, "before_cursor_execute", writes)
    try:
        now = at(2023, 6, 20)
        for n, (kind, arg, crash_at) in enumerate(steps):
            now += dt.timedelta(days=3)

            def faults(point: str, crash_at: Crash = crash_at) -> None:
                if point == crash_at:
                    raise Crashed(point)

            commands: list[tuple[c.AnyCommand, str]]
            if kind == "plan":
                now += dt.timedelta(days=int(str(arg)))
                state = directives.state(D)
                commands = [
                    (PerformAction(actor=SYSTEM, action=a), a.key)
                    for a in due_actions(state, now, default_calendar())
                ]
            else:
                commands = [(command_of(str(kind), str(arg)), f"step-{n}")]
            for command, key in commands:
                before = directives.store.version(D)
                writes.arm(crash_at[1] if isinstance(crash_at, tuple) else None)
                try:
                    directives.execute(D, command, now, key=key, faults=faults)
                except Refused:
                    pass
                except Crashed:
                    writes.arm(None)
                    assert directives.store.version(D) == before  # nothing of it was written
                    check_equal(directives, now)
                writes.arm(None)
            check_equal(directives, now)
    finally:
        event.remove(engine, "before_cursor_execute", writes)


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/ledger.db")
        ensure_schema(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@given(steps=st.lists(step, min_size=1, max_size=8))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_snapshot_tail_replay_and_projections_agree_on_sqlite(
    steps: list[tuple[object, object, Crash]],
) -> None:
    with sqlite_engine() as engine:
        run(engine, steps)


@pytest.mark.postgres
@given(steps=st.lists(step, min_size=1, max_size=8))
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_snapshot_tail_replay_and_projections_agree_on_postgres(
    postgres_ledger_url: str, steps: list[tuple[object, object, Crash]]
) -> None:
    engine = make_engine(postgres_ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(metadata.tables)} RESTART IDENTITY"))
        run(engine, steps)
    finally:
        engine.dispose()
