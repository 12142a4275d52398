"""Snapshots: the state read as snapshot + tail is the replay from nothing, on SQLite and
PostgreSQL; a snapshot that is old, broken or off the chain is rebuilt, and an edited one is
reported by `chidao verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from chidao.cli import main
from definitions.calendar import default_calendar
from i18n import _
from ledger.directives import Directives, replay_stored
from ledger.snapshots import FORMAT, check_snapshots, decode_state, encode_state, read_snapshot
from ledger.tables import definitions, snapshots
from lifecycle import PerformAction, due_actions
from lifecycle import commands as c
from lifecycle.commands import SYSTEM
from tests.lifecycle.helpers import at, issued_ledger

D = "qn-2810-ubnd-kgvx-2023"


def drive(directives: Directives, until_month: int = 12) -> None:
    """Reminders, acknowledgements and reports of 2023 through the ledger, step by step,
    checking after each that snapshot + tail == replay from nothing."""
    steps = 0
    for month in range(7, until_month + 1):
        now = at(2023, month, 28)
        state = directives.state(D)
        for action in due_actions(state, now, default_calendar()):
            directives.execute(D, PerformAction(actor=SYSTEM, action=action), now, key=action.key)
            steps += 1
        agency = ["so-ldtbxh", "ubnd-ba-to", "ubnd-son-ha", "ubnd-tra-bong", "so-gddt"][month % 5]
        directives.execute(D, c.Acknowledge(actor=agency, agency=agency), now, key=f"ack-{month}")
        assert directives.state(D) == replay_stored(directives.events(D))
    assert steps > 10


def test_snapshot_and_tail_equal_the_replay_after_every_command(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    drive(directives)
    engine = directives.store.engine
    with engine.connect() as conn:
        row = conn.execute(select(snapshots)).one()
        assert row.format == FORMAT and row.version % 10 < directives.store.version(D)
        assert conn.execute(select(definitions.c.sha256)).scalar() == row.definition_sha256
        snapshot = read_snapshot(conn, D)
    assert snapshot is not None and snapshot.state.version == row.version
    assert snapshot.state == replay_stored(directives.events(D)[: row.version])
    assert check_snapshots(engine) == []


def test_the_serialisation_round_trips_the_state_exactly(backend_url: str) -> None:
    directives = issued_ledger(backend_url)
    drive(directives, until_month=9)
    state = replay_stored(directives.events(D))
    data = json.loads(json.dumps(encode_state(state)))
    assert decode_state(data, state.resolved) == state


@pytest.mark.parametrize("damage", ["older-format", "undecodable", "off-the-chain", "no-definition"])
def test_an_unusable_snapshot_is_rebuilt_not_an_error(backend_url: str, damage: str) -> None:
    directives = issued_ledger(backend_url)
    drive(directives, until_month=9)
    engine: Engine = directives.store.engine
    with engine.begin() as conn:
        if damage == "older-format":
            conn.execute(update(snapshots).values(format="0:old"))
        elif damage == "undecodable":
            conn.execute(update(snapshots).values(state=["not", "a", "state"]))
        elif damage == "off-the-chain":
            conn.execute(update(snapshots).values(head_hash="0" * 64))
        else:
            conn.execute(definitions.delete())
    assert directives.state(D) == replay_stored(directives.events(D))
    # the next write that snapshots replaces it with a good one
    pairs = [
        (a.id, item.id) for a in directives.state(D).definition.tracked for item in a.items
    ]
    for n, (agency, item) in enumerate(pairs[:10]):
        directives.execute(
            D, c.CompleteItem(actor=agency, agency=agency, item=item), at(2023, 10, 1), key=f"i{n}"
        )
    with engine.connect() as conn:
        row = conn.execute(select(snapshots)).one()
        assert row.format == FORMAT and read_snapshot(conn, D) is not None
    assert directives.state(D) == replay_stored(directives.events(D))


def test_verify_reports_a_snapshot_edited_in_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    directives = issued_ledger(f"sqlite:///{tmp_path / 'chidao.db'}")
    drive(directives, until_month=11)
    assert main(["verify"]) == 0
    assert _("snapshots and projections agree with replay") in capsys.readouterr().out
    engine = directives.store.engine
    with engine.begin() as conn:
        row = conn.execute(select(snapshots)).one()
        state = decode_state(row.state, None)
        # someone marks a silent district as having reported
        work = state.cycles["2023"].works["ubnd-ly-son"]
        work.status, work.reported_at = "reported", at(2023, 11, 1)
        conn.execute(update(snapshots).values(state=encode_state(state)))
    assert main(["verify"]) == 1
    err = capsys.readouterr().err
    assert f"snapshot: {D} at version {row.version}" in err and "differs from the replay" in err
    faults = check_snapshots(engine, D)
    assert [f.stream for f in faults] == [D]
    with engine.begin() as conn:
        conn.execute(text("UPDATE snapshots SET state = '[1]'"))
    assert main(["verify", D]) == 1
    assert "does not decode" in capsys.readouterr().err
