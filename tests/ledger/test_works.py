"""The works projection and its queries (`ledger.works`), on SQLite and PostgreSQL: one row per
(directive, cycle, agency) saying what a replay says; by agency, by directive, overdue first;
extensions and hand-overs in it; only the rows a command changes are written; and the status
the faces read from it is the status the state gives — also for the old-format fixture."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event, select

from chidao.cli.flow_cmd import projected_status, status_as_json
from definitions.content_hash import definition_sha256
from ledger.db import ensure_schema, make_engine
from ledger.definitions_store import check_definitions
from ledger.directives import Directives, replay_stored
from ledger.projections import check, work_rows
from ledger.tables import definitions, projection_works
from ledger.works import (
    directive_summary,
    overdue_first,
    rows_for_agency,
    rows_for_directive,
    status_rows,
)
from lifecycle import commands as c
from lifecycle.status import current_rows, standing
from tests.ledger.test_old_format import FIXTURE
from tests.ledger.test_snapshots import D, drive
from tests.lifecycle.helpers import at, issued_ledger

LATE, EXTENDED = "ubnd-ly-son", "so-ldtbxh"


def test_rows_and_queries_say_what_the_replay_says(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    drive(directives, until_month=11)
    directives.execute(
        D,
        c.RequestExtension(
            actor=EXTENDED, agency=EXTENDED, cycle="2023", reason="Chờ số liệu",
            proposed_due=dt.date(2023, 12, 15),
        ),
        at(2023, 11, 28, 10), key="ext",
    )  # fmt: skip
    directives.execute(
        D, c.GrantExtension(actor="ubnd-tinh", agency=EXTENDED, cycle="2023"),
        at(2023, 11, 28, 11), key="grant",
    )  # fmt: skip
    reporter = "ubnd-ba-to"
    directives.execute(
        D, c.SubmitReport(actor=reporter, agency=reporter, cycle="2023", text="Báo cáo"),
        at(2023, 11, 28, 12), key="report",
    )  # fmt: skip
    assert check(engine) == []
    state = replay_stored(directives.events(D))
    now = at(2023, 12, 5)

    rows = rows_for_directive(engine, D, "2023")
    assert {(r.cycle, r.agency) for r in rows} == set(work_rows(state))
    for row in rows:
        work = state.cycles["2023"].works[row.agency]
        assert row.standing_at(now) == standing(work, now)
        assert row.effective_due == work.due and row.escalation_level == work.escalation_level
    # the status table, in the definition's order, as the lifecycle builds it
    assert status_rows(rows, now) == current_rows(state, now)[1]

    extended = next(r for r in rows if r.agency == EXTENDED)
    assert extended.extension == "granted" and extended.extended_due == dt.date(2023, 12, 15)
    assert extended.effective_due == dt.date(2023, 12, 15) and extended.due < extended.effective_due
    reported = next(r for r in rows if r.agency == reporter)
    assert reported.standing == "completed_on_time" and reported.reported_at is not None
    assert reported.last_event == "ReportSubmitted"
    assert reported.last_event_version == directives.store.version(D)

    mine = rows_for_agency(engine, LATE)
    assert [(r.directive, r.cycle) for r in mine] == [(D, "2023")]

    urgent = overdue_first(engine, now)
    overdue = [r for r in urgent if r.standing_at(now) == "overdue"]
    assert overdue and urgent[: len(overdue)] == overdue  # overdue first ...
    assert [r.deadline for r in overdue] == sorted(r.deadline for r in overdue)  # ... earliest first
    assert {r.agency for r in overdue_first(engine, now, only_overdue=True)} == {
        r.agency for r in overdue
    }
    assert EXTENDED not in {r.agency for r in overdue}  # its extension holds until the 15th
    assert LATE in {r.agency for r in overdue}

    summary = directive_summary(engine, D)
    assert summary is not None and summary.current_cycle == "2023"
    assert summary.definition_sha256 == definition_sha256(state.definition)
    assert projected_status(engine, D, now) == status_as_json(state, now)


def test_a_command_writes_only_the_rows_it_changes(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    drive(directives, until_month=9)
    written: list[str] = []

    def count(conn: object, cursor: object, statement: str, params: object, *rest: object) -> None:
        if "projection_works" in statement and statement.lstrip().upper().startswith("INSERT"):
            written.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        directives.execute(
            D, c.SubmitReport(actor=LATE, agency=LATE, cycle="2023", text="Báo cáo"),
            at(2023, 10, 2), key="one-report",
        )  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(written) == 1  # one row (of 17), in one INSERT
    with engine.connect() as conn:
        rows = conn.execute(
            select(projection_works.c.agency).where(projection_works.c.work_status == "reported")
        ).all()
    assert [r.agency for r in rows] == [LATE]
    assert check(engine) == []


def test_a_hand_over_is_in_both_rows(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    state = directives.state(D)
    issued = state.definition
    source = "ubnd-ly-son"
    target = next(a.id for a in issued.tracked if a.id.startswith("ubnd-") and a.id != source)
    amended = issued.model_copy(
        update={"tracked": tuple(a for a in issued.tracked if a.id != source)}
    ).model_dump(mode="json")
    directives.execute(
        D,
        c.Amend(
            actor="operator:test", resolved=amended, reason="Sáp nhập",
            transfers=(c.Transfer(from_agency=source, to_agency=target, basis="Nghị quyết"),),
        ),
        at(2023, 7, 1), key="merge",
    )  # fmt: skip
    assert check(engine) == [] and check_definitions(engine) == []
    rows = {r.agency: r for r in rows_for_directive(engine, D, "2023")}
    assert rows[source].work_status == "transferred" and rows[source].transferred_to == [target]
    assert rows[source].position is None  # no longer among the definition's agencies
    assert source in rows[target].predecessors
    with engine.connect() as conn:  # both definitions are stored, each under its hash
        assert len(conn.execute(select(definitions.c.sha256)).all()) == 2


def test_the_old_format_ledger_projects_and_shows_the_same_status(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE, path)
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    try:
        directives = Directives.over(engine)
        for stream in directives.ids():
            state = directives.load(stream)[1]
            last = state.last_event_at
            assert last is not None
            for now in (last - dt.timedelta(days=30), last, last + dt.timedelta(days=40)):
                assert projected_status(engine, stream, now) == status_as_json(state, now)
        assert check(engine) == [] and check_definitions(engine) == []
    finally:
        engine.dispose()


def test_pending_actions_planned_on_another_calendar_are_planned_again(backend_url: str) -> None:
    """A new holidays release or an edited calendar file changes what is pending: the rows
    planned on the old calendar are rebuilt when read, not reported as edited."""
    from sqlalchemy import update

    from ledger.projections import projection_directives, refresh, stale

    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    with engine.begin() as conn:
        assert stale(conn) == []
        conn.execute(update(projection_directives).values(calendar="0" * 16, pending=[]))
        assert stale(conn) == [D]
    assert check(engine) == []  # not an edit: planned on another calendar, so rebuilt
    assert refresh(engine) == [D]
    summary = directive_summary(engine, D)
    assert summary is not None and summary.pending  # planned again


def test_the_webhook_status_from_the_projections_is_the_status_of_the_state(
    backend_url: str,
) -> None:
    """Issuer, consolidator, a tracked agency (its own row only) and a stranger (refused), as
    the endpoint answered them from the state."""
    from chidao.webhook.errors import Forbidden, NotFound
    from chidao.webhook.service import Caller, Service
    from lifecycle.status import counts

    directives = issued_ledger(backend_url)
    drive(directives, until_month=11)
    now = at(2023, 12, 2)
    service = Service(directives.store.engine, lambda: now)
    state = replay_stored(directives.events(D))
    cycle, rows = current_rows(state, now)
    for agency, own_only in (("ubnd-tinh", False), ("so-gddt", False), (LATE, True)):
        shown = service.status(Caller(agency, "w", "0" * 64), D)
        want = [r for r in rows if r.agency == agency] if own_only else rows
        assert shown.cycle == cycle and shown.directive_status == state.status
        assert [r.model_dump() for r in shown.rows] == [r.model_dump() for r in want]
        assert shown.counts == counts(want)
    with pytest.raises(Forbidden):
        service.status(Caller("so-y-te-khong-co", "w", "0" * 64), D)
    with pytest.raises(NotFound):
        service.status(Caller("ubnd-tinh", "w", "0" * 64), "qn-0000-khong-co")
