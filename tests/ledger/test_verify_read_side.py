"""`chidao verify` against the read side edited in the database, on SQLite and PostgreSQL: a
works row, a directive row, an inbox row and a snapshot changed by hand are each reported with
the directive and the row at fault, and verify exits 1; `chidao projections rebuild` puts the
projections right. The definitions the events name by hash are part of the record: one edited
or removed is reported, with the event that names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from chidao.cli import main
from definitions.content_hash import document_sha256
from ledger.directives import Directives
from ledger.snapshots import decode_state, encode_state, read_snapshot
from ledger.tables import (
    definitions,
    events,
    projection_directives,
    projection_inbox,
    projection_works,
    snapshots,
)
from tests.ledger.test_snapshots import D, drive
from tests.lifecycle.helpers import issued_ledger

AGENCY = "ubnd-ly-son"


@pytest.fixture
def ledger(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Directives:
    """2810 driven through its 2023 cycle to November, `chidao` pointed at it."""
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", backend_url)
    directives = issued_ledger(backend_url)
    drive(directives, until_month=11)
    return directives


def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify"])
    return code, capsys.readouterr().err


def test_an_untouched_ledger_verifies(ledger: Directives, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _verify(capsys)
    assert code == 0, err


def test_an_edited_works_row_is_named(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    with ledger.store.engine.begin() as conn:
        # someone marks a district's overdue report as done on time
        done = conn.execute(
            update(projection_works)
            .where(
                projection_works.c.directive == D,
                projection_works.c.cycle == "2023",
                projection_works.c.agency == AGENCY,
            )
            .values(standing="completed_on_time", escalation_level=0)
        )
        assert done.rowcount == 1
    code, err = _verify(capsys)
    assert code == 1
    assert f"projection: {D}: 1 projection_works row(s) differ from the replay" in err
    assert f"cycle 2023 agency {AGENCY}" in err and "standing" in err
    assert main(["projections", "rebuild"]) == 0
    assert _verify(capsys)[0] == 0


def test_an_edited_directive_row_is_named(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    with ledger.store.engine.begin() as conn:
        conn.execute(
            update(projection_directives)
            .where(projection_directives.c.directive == D)
            .values(completed=12, pending=[])
        )
    code, err = _verify(capsys)
    assert code == 1
    assert f"projection: {D}: its projection_directives row differs from the replay" in err
    assert "completed" in err and "pending" in err
    assert main(["projections", "rebuild"]) == 0
    assert _verify(capsys)[0] == 0


def test_an_edited_inbox_row_is_named(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    with ledger.store.engine.begin() as conn:
        row = conn.execute(
            select(projection_inbox.c.seq).where(
                projection_inbox.c.directive == D,
                projection_inbox.c.owner == AGENCY,
                projection_inbox.c.kind == "report",
            )
        ).one()
        conn.execute(
            update(projection_inbox)
            .where(
                projection_inbox.c.directive == D,
                projection_inbox.c.owner == AGENCY,
                projection_inbox.c.seq == row.seq,
            )
            .values(detail="Không cần báo cáo")
        )
    code, err = _verify(capsys)
    assert code == 1
    assert f"projection: {D}: 1 projection_inbox row(s) differ from the replay" in err
    assert f"first {AGENCY} #{row.seq}" in err and "detail" in err
    assert main(["projections", "rebuild"]) == 0
    assert _verify(capsys)[0] == 0


def test_an_edited_snapshot_is_named(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = ledger.store.engine
    with engine.begin() as conn:
        snapshot = read_snapshot(conn, D)
        assert snapshot is not None
        state = snapshot.state
        work = state.cycles["2023"].works[AGENCY]
        work.escalation_level, work.status = 0, "accepted"  # a decodable, plausible lie
        conn.execute(
            update(snapshots)
            .where(snapshots.c.stream == D)
            .values(state=encode_state(state))
        )
        assert decode_state(encode_state(state), state.resolved) == state
    code, err = _verify(capsys)
    assert code == 1
    assert (
        f"snapshot: {D} at version {snapshot.version}: the snapshot differs from the replay" in err
    )
    assert main(["projections", "rebuild"]) == 0  # (snapshots are not projections)
    assert _verify(capsys)[0] == 1


def _issued_sha(ledger: Directives) -> str:
    with ledger.store.engine.connect() as conn:
        payload = conn.execute(
            select(events.c.payload).where(events.c.stream == D, events.c.version == 1)
        ).scalar_one()
    sha: str = payload["definition_sha256"]
    return sha


def test_an_edited_definition_is_named_with_the_event_naming_it(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = _issued_sha(ledger)
    with ledger.store.engine.begin() as conn:
        document = conn.execute(
            select(definitions.c.resolved).where(definitions.c.sha256 == sha)
        ).scalar_one()
        assert document_sha256(document) == sha
        # someone moves the first cycle's report due date in the stored definition
        document["cycles"][0]["report_due"] = "2024-06-30"
        conn.execute(update(definitions).where(definitions.c.sha256 == sha).values(resolved=document))
    code, err = _verify(capsys)
    assert code == 1
    assert f"definition: definition {sha} was edited" in err
    assert f"named by {D} version 1" in err


def test_a_missing_definition_is_named_with_the_event_naming_it(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = _issued_sha(ledger)
    with ledger.store.engine.begin() as conn:
        conn.execute(definitions.delete().where(definitions.c.sha256 == sha))
    code, err = _verify(capsys)
    assert code == 1
    assert f"definition: {D}: event version 1 names definition {sha}, which is not stored" in err
