"""The auditors' commands: history in order, replay as of a moment, verify naming what was altered."""

from __future__ import annotations

import csv
import io
import json
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
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    directives = issued_ledger(f"sqlite:///{tmp_path / 'chidao.db'}")
    directives.execute(
        DIRECTIVE,
        c.SubmitReport(actor="so-ldtbxh", agency="so-ldtbxh", cycle="2023", text="Báo cáo"),
        at(2023, 11, 20),
        key="r1",
    )
    directives.execute(
        DIRECTIVE,
        c.SubmitReport(actor="ubnd-ba-to", agency="ubnd-ba-to", cycle="2023", text="Muộn"),
        at(2023, 12, 5),
        key="r2",
    )
    return directives


def test_history_lists_every_event_in_order(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", DIRECTIVE, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in rows] == [
        "DirectiveIssued",
        "CycleOpened",
        "ReportSubmitted",
        "ReportSubmitted",
    ]
    assert [r["version"] for r in rows] == [1, 2, 3, 4]
    assert main(["history", DIRECTIVE, "--csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][:3] == ["version", "position", "type"] and len(table) == 5
    assert "Muộn" in table[-1][-1]


def test_replay_as_of_a_moment_shows_what_was_overdue_then(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", DIRECTIVE, "--as-of", "2023-12-02T12:00", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["agency"]: r["status"] for r in data["cycles"]["2023"]["agencies"]}
    assert rows["so-ldtbxh"] == "completed_on_time"
    assert rows["ubnd-ba-to"] == "overdue"  # it reported on 05/12, after this moment
    assert "ubnd-ba-to" in data["cycles"]["2023"]["overdue"]
    assert main(["replay", DIRECTIVE, "--as-of", "2023-11-01"]) == 0
    assert "đang thực hiện trong hạn" in capsys.readouterr().out
    assert main(["replay", DIRECTIVE, "--as-of", "yesterday"]) == 1
    assert "không phải ngày giờ ISO" in capsys.readouterr().err


def test_verify_names_the_event_that_was_edited(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", DIRECTIVE]) == 0
    assert "chuỗi nguyên vẹn" in capsys.readouterr().out
    with ledger.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET payload = :p WHERE version = 3"),
            {
                "p": json.dumps(
                    {
                        "agency": "so-ldtbxh",
                        "cycle": "2023",
                        "text": "Sửa",
                        "items": {},
                        "figures": {},
                        "attachment": None,
                    }
                )
            },
        )
    assert main(["verify", DIRECTIVE]) == 1
    err = capsys.readouterr().err
    assert "edited" in err and "3" in err and "ReportSubmitted" in err


def test_unknown_directive_is_a_clear_error(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "qn-0000"]) == 1
    assert "không có văn bản qn-0000" in capsys.readouterr().err
