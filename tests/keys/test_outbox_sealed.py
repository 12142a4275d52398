"""Outbox bodies carry signed links: they are stored sealed under the key, never as plaintext."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from chidao.cli import main
from chidao.settings import Settings
from definitions.calendar import default_calendar
from ledger.tables import outbox
from lifecycle import due_actions
from notifications.outbox import Outbox, OutboxError
from tasks.actions import ActionInput, perform
from tests.lifecycle.helpers import at, issued_ledger


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHIDAO_SECRET_KEY", raising=False)
    url = Settings().resolved_database_url
    directives = issued_ledger(url)
    state = directives.state("qn-2810-ubnd-kgvx-2023")
    link_key = Settings().link_key()
    from pydantic import SecretBytes

    for action in due_actions(state, at(2023, 6, 20), default_calendar()):
        perform(
            ActionInput(
                database_url=url,
                action=action,
                at=at(2023, 6, 20),
                answer_url="http://127.0.0.1:8765",
                link_key=SecretBytes(link_key),
            )
        )
    return url


def test_no_link_token_stands_in_the_outbox_table(ledger_url: str) -> None:
    from tasks.runtime import engine_for

    engine = engine_for(ledger_url)
    with engine.connect() as conn:
        raw = conn.execute(select(outbox.c.body_text, outbox.c.body_html)).all()
    assert raw and all(t.startswith("sealed:v1:") and h.startswith("sealed:v1:") for t, h in raw)
    assert not any("token=" in t or "token=" in h for t, h in raw)

    opened = Outbox(engine, body_key=Settings().link_key()).pending()
    assert opened and all("token=" in r.body_text for r in opened if r.agency != "ubnd-tinh")
    with pytest.raises(OutboxError, match="sealed"):
        Outbox(engine).pending()
    wrong = base64.urlsafe_b64encode(os.urandom(32))
    with pytest.raises(OutboxError, match="does not open"):
        Outbox(engine, body_key=wrong).pending()


def test_keys_rotate_reseals_the_outbox(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tasks.runtime import engine_for

    engine = engine_for(ledger_url)
    before = [r.body_text for r in Outbox(engine, body_key=Settings().link_key()).pending()]
    assert main(["keys", "rotate"]) == 0
    assert "outbox message(s)" in capsys.readouterr().out
    after = [r.body_text for r in Outbox(engine, body_key=Settings().link_key()).pending()]
    assert after == before
