"""`chidao checkpoint` and `chidao verify` on a real 2810 ledger: tampering shows against the witness."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from chidao.cli import main
from ledger.directives import Directives
from lifecycle import commands as c
from tests.lifecycle.helpers import at, issued_ledger

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Directives:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    directives = issued_ledger(f"sqlite:///{tmp_path / 'home' / 'chidao.db'}")
    for key, agency, day in (("r1", "so-ldtbxh", 20), ("r2", "ubnd-ba-to", 25)):
        directives.execute(
            DIRECTIVE,
            c.SubmitReport(actor=agency, agency=agency, cycle="2023", text="Báo cáo"),
            at(2023, 11, day),
            key=key,
        )
    return directives


def test_a_deleted_newest_event_passes_the_chain_but_not_the_checkpoint(
    ledger: Directives, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint #1" in out and "4 events" in out
    assert stat.S_IMODE(os.stat(home / "checkpoint-ed25519.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    [line] = (home / "checkpoints.jsonl").read_text().splitlines()
    assert json.loads(line)["checkpoint"]["streams"][DIRECTIVE]["version"] == 4
    assert main(["checkpoint"]) == 0 and "no new checkpoint" in capsys.readouterr().out
    auditor_copy = tmp_path / "auditor.jsonl"
    auditor_copy.write_text(line + "\n")

    with ledger.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE version = 4"))
        # the forger also drops the database's own copy of the checkpoints
        conn.execute(text("DELETE FROM checkpoints"))

    assert main(["verify", DIRECTIVE]) == 1
    err = capsys.readouterr().err
    assert f"truncated: stream {DIRECTIVE!r} ends at version 3" in err
    assert "the ledger satisfies: none" in err
    (home / "checkpoints.jsonl").unlink()  # even without the server's witness file
    assert main(["verify", "--checkpoint", str(auditor_copy)]) == 1
    assert "versions 4 to 4 were deleted" in capsys.readouterr().err
    assert main(["verify", "--checkpoint", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_restore_is_recorded_signed_and_work_goes_on(
    ledger: Directives, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checkpoint"]) == 0
    live_db, backup = tmp_path / "home" / "chidao.db", tmp_path / "backup.db"
    with sqlite3.connect(live_db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # the night's backup, taken after checkpoint #1
    ledger.execute(
        DIRECTIVE,
        c.SubmitReport(actor="so-gddt", agency="so-gddt", cycle="2023", text="Báo cáo"),
        at(2023, 11, 28),
        key="r3",
    )
    assert main(["checkpoint"]) == 0
    capsys.readouterr()
    with sqlite3.connect(backup) as copy, sqlite3.connect(live_db) as live:
        copy.backup(live)  # the whole database restored from it: events, checkpoints, caches
    assert main(["verify"]) == 1
    assert "the ledger satisfies: checkpoint #1" in capsys.readouterr().err
    assert main(["checkpoint"]) == 1
    assert "restored from a backup" in capsys.readouterr().err
    assert main(["checkpoint", "--record-restore", "--reason", "khôi phục"]) == 1
    assert "--operator" in capsys.readouterr().err
    args = ["checkpoint", "--record-restore", "--operator", "nguyen-van-a", "--reason", "khôi phục"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "restore record #3 of" in out and "by nguyen-van-a" in out and "#2 are superseded" in out
    assert main(["verify"]) == 0
    assert "superseded by a recorded restore: checkpoint #2" in capsys.readouterr().out
