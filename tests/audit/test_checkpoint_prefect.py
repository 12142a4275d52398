"""The Prefect server is a witness: checkpoints published there catch tampering on their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from chidao.cli import main
from tests.lifecycle.helpers import issued_ledger

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"


def test_with_the_file_and_the_database_copy_gone_prefect_still_witnesses(
    prefect_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    directives = issued_ledger(f"sqlite:///{tmp_path / 'home' / 'chidao.db'}")
    assert main(["checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "published to" in out and "the Prefect server" in out

    with directives.store.engine.begin() as conn:
        # the whole stream deleted, and the database's own checkpoints with it
        conn.execute(text("DELETE FROM events"))
        conn.execute(text("DELETE FROM checkpoints"))
    (tmp_path / "home" / "checkpoints.jsonl").unlink()

    assert main(["verify"]) == 1
    err = capsys.readouterr().err
    assert f"removed: stream {DIRECTIVE!r} is gone" in err
