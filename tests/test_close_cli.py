"""`chidao close ID --reason … [--superseded-by OTHER]`: open work withdrawn with the reason, the
directive closed, the successor linking back, all in one transaction or not at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chidao.cli import main
from definitions.calendar import TIMEZONE
from definitions.loader import DIRECTIVES_DIR
from flows.launch import resolve_file
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from lifecycle import commands as cmd

OLD, NEW = "qn-5185-ubnd-kgvx-2021", "qn-2810-ubnd-kgvx-2023"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the refusals' English words (the Vietnamese: tests/i18n)."""
    monkeypatch.setenv("CHIDAO_LANG", "en")


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Directives:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("CHIDAO_DATABASE_URL", url)
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    engine = make_engine(url)
    ensure_schema(engine)
    directives = Directives.over(engine)
    for directive_id, day in ((OLD, dt.date(2021, 10, 5)), (NEW, dt.date(2023, 6, 20))):
        resolved = resolve_file(DIRECTIVES_DIR / f"{directive_id}.yaml").model_dump(mode="json")
        at = dt.datetime.combine(day, dt.time(9), tzinfo=TIMEZONE)
        directives.execute(
            directive_id, cmd.Issue(actor="operator", resolved=resolved), at, key=f"issue:{directive_id}"
        )
    report = cmd.SubmitReport(actor="so-gddt", agency="so-gddt", cycle="2021", text="Đã báo cáo.")
    directives.execute(OLD, report, dt.datetime(2021, 11, 1, 9, tzinfo=TIMEZONE), key="r")
    return directives


def test_close_superseded_withdraws_open_work_and_links_back(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["close", OLD, "--reason", "Thay bằng Công văn 2810", "--superseded-by", NEW])
    assert code == 0, capsys.readouterr().err
    assert f"superseded by {NEW}" in capsys.readouterr().out
    old = ledger.state(OLD)
    assert old.status == "closed" and old.superseded_by == NEW
    assert old.closed_reason == "Thay bằng Công văn 2810"
    events = ledger.events(OLD)
    withdrawn = [e for e in events if e.type == "TaskWithdrawn"]
    assert withdrawn and all(e.payload["reason"] == "Thay bằng Công văn 2810" for e in withdrawn)
    assert "so-gddt" not in {e.payload["agency"] for e in withdrawn}  # its report stands
    assert events[-1].type == "DirectiveClosed" and events[-1].schema_version == 2
    new = ledger.state(NEW)
    assert new.status == "active" and new.supersedes == [OLD]
    # a second close is refused: it is closed
    assert main(["close", OLD, "--reason", "lần nữa"]) == 1
    assert "is closed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--superseded-by", "qn-9999-khong-co"], "no directive qn-9999-khong-co in the ledger"),
        (["--superseded-by", OLD], "cannot supersede itself"),
    ],
)
def test_a_bad_close_records_nothing(
    ledger: Directives, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = (ledger.store.version(OLD), ledger.store.version(NEW))
    assert main(["close", OLD, "--reason", "x", *args]) == 1
    assert message in capsys.readouterr().err
    assert (ledger.store.version(OLD), ledger.store.version(NEW)) == before


def test_superseded_by_a_closed_directive_rolls_the_close_back(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["close", NEW, "--reason", "Đã xong"]) == 0
    before = ledger.store.version(OLD)
    assert main(["close", OLD, "--reason", "x", "--superseded-by", NEW]) == 1
    assert "is closed" in capsys.readouterr().err
    assert ledger.store.version(OLD) == before and ledger.state(OLD).status == "active"
