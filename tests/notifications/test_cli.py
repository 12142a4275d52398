"""`chidao notifications preview` and `outbox`, run through the real entry point."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chidao.cli import main
from chidao.settings import load_settings
from ledger.db import ensure_schema, make_engine
from notifications.outbox import Outbox
from notifications.samples import preview
from tests.notifications.conftest import ANSWER_URL, D2810, resolved

DEFINITION = "definitions/directives/qn-2810-ubnd-kgvx-2023.yaml"


def test_preview_prints_a_vietnamese_reminder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "preview", DEFINITION, "--agency", "so-ldtbxh", "--kind", "reminder"]) == 0
    out = capsys.readouterr().out
    assert "Subject: [2810/UBND-KGVX] Nhắc hạn báo cáo kết quả năm 2023 — hạn 30/11/2023" in out
    assert "Kính gửi: Sở Lao động - Thương binh và Xã hội" in out


def test_preview_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "preview", DEFINITION, "--agency", "so-ldtbxh", "--kind", "reminder",
                 "--lang", "en", "--cycle", "2024"]) == 0
    out = capsys.readouterr().out
    assert "To: Department of Labour, Invalids and Social Affairs" in out
    assert "due 2 December 2024" in out  # 30/11/2024 is a Saturday


def test_preview_of_an_unknown_agency_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "preview", DEFINITION, "--agency", "so-khong-co", "--kind", "reminder"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chidao: so-khong-co has no work on qn-2810-ubnd-kgvx-2023")
    assert err.count("\n") == 1


def test_outbox_lists_failed_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    engine = make_engine(load_settings().resolved_database_url)
    ensure_schema(engine)
    outbox = Outbox(engine)
    notice = preview(resolved(D2810), "so-ldtbxh", "reminder", answer_url=ANSWER_URL)
    now = dt.datetime(2023, 11, 27, 8, tzinfo=dt.UTC)
    outbox.enqueue([notice], now=now)
    assert main(["notifications", "outbox", "--failed"]) == 0
    assert "no failed messages" in capsys.readouterr().out
    (row,) = outbox.pending()
    assert outbox.claim([row], row.message_id, now=now)
    outbox.mark_attempt_failed([row.key], "SMTPConnectError: refused", now=now, final=True)
    engine.dispose()
    assert main(["notifications", "outbox", "--failed"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and notice.key in out and "SMTPConnectError: refused" in out
    assert main(["notifications", "outbox", "--json"]) == 0
    assert '"status": "failed"' in capsys.readouterr().out
