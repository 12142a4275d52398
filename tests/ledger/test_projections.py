"""Projections: the inbox rows and directive rows written with each command say what a replay
says, on SQLite and PostgreSQL; an edited row is reported by `chidao verify` and put right by
`chidao projections rebuild`; rows left behind by a write that bypassed the writers are
rebuilt when the inbox is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from chidao.cli import main
from ledger.directives import replay_stored, to_new_events
from ledger.projections import check, inbox_rows, read_inbox, stale
from ledger.tables import projection_directives, projection_inbox
from lifecycle import commands as c
from lifecycle import decide
from tests.ledger.test_snapshots import D, drive
from tests.lifecycle.helpers import at, issued_ledger


def test_the_rows_follow_every_command(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    assert check(engine) == []
    drive(directives, until_month=11)
    assert check(engine) == []
    state = replay_stored(directives.events(D))
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(projection_inbox)).scalar()
        row = conn.execute(select(projection_directives)).one()
    assert stored == len(inbox_rows(state)) > 0
    assert (row.directive, row.version, row.current_cycle) == (D, state.version, "2023")
    # one agency's inbox, as the webhook reads it
    reporter = "ubnd-ly-son"
    items = read_inbox(engine, reporter)
    assert {i.kind for i in items} >= {"report"} and all(i.owner == reporter for i in items)
    directives.execute(
        D, c.SubmitReport(actor=reporter, agency=reporter, cycle="2023", text="BC"),
        at(2023, 11, 29), key="late-report",
    )
    assert "report" not in {i.kind for i in read_inbox(engine, reporter)}
    assert any(
        i.kind == "review_report" and i.agency == reporter for i in read_inbox(engine, "so-gddt")
    )
    assert check(engine) == []


def test_rows_behind_the_stream_are_rebuilt_when_the_inbox_is_read(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    state = directives.state(D)
    agency = "ubnd-ba-to"
    events = decide(state, c.Acknowledge(actor=agency, agency=agency), at(2023, 6, 22))
    # appended by the bare store: no writer ran
    directives.store.append(D, state.version, to_new_events(events, "bare-ack"))
    with engine.connect() as conn:
        assert stale(conn) == [D]
    assert "acknowledge" not in {i.kind for i in read_inbox(engine, agency)}
    with engine.connect() as conn:
        assert stale(conn) == []
    assert check(engine) == []


def test_a_write_after_one_inbox_read_is_caught_by_the_next(backend_url: str) -> None:
    # SQLite looks only at the events after the position the last read reached: a stream
    # written behind the writers' back after that read is still one of them
    directives = issued_ledger(backend_url)
    engine = directives.store.engine
    agency = "ubnd-ba-to"
    assert "acknowledge" in {i.kind for i in read_inbox(engine, agency)}
    assert "acknowledge" in {i.kind for i in read_inbox(engine, agency)}  # nothing new
    state = directives.state(D)
    events = decide(state, c.Acknowledge(actor=agency, agency=agency), at(2023, 6, 22))
    directives.store.append(D, state.version, to_new_events(events, "bare-ack-2"))
    assert "acknowledge" not in {i.kind for i in read_inbox(engine, agency)}
    with engine.connect() as conn:
        assert stale(conn) == []
    assert check(engine) == []


def test_verify_reports_an_edited_projection_and_rebuild_puts_it_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    directives = issued_ledger(f"sqlite:///{tmp_path / 'chidao.db'}")
    drive(directives, until_month=8)
    assert main(["verify"]) == 0
    capsys.readouterr()
    with directives.store.engine.begin() as conn:
        # someone hides a district's overdue report from its inbox
        conn.execute(
            projection_inbox.delete().where(
                projection_inbox.c.owner == "ubnd-ly-son", projection_inbox.c.kind == "report"
            )
        )
        conn.execute(update(projection_directives).values(completed=12))
    assert main(["verify"]) == 1
    err = capsys.readouterr().err
    assert f"projection: {D}: its projection_directives row differs" in err
    assert "projection_inbox row(s) differ" in err and "ubnd-ly-son" in err
    assert main(["projections", "rebuild"]) == 0
    assert "1" in capsys.readouterr().out
    assert main(["verify"]) == 0
