"""Operators' acts are attributed: every operator command records who did it.

Through the real CLI on a real ledger: `launch`, `amend` and `record-report` record the actor
`operator:<id>` from `--operator`, else `CHIDAO_OPERATOR`, else the login name — never the bare
`operator`; a malformed id is refused naming where it came from, with nothing written; a paper
report entered later names its author in the payload too.
"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path

import pytest

from chidao.cli import main
from definitions.calendar import TIMEZONE
from definitions.loader import DIRECTIVES_DIR
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from tasks.runtime import dispose_all

D2810 = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"
DIRECTIVE = "qn-2810-ubnd-kgvx-2023"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHIDAO_OPERATOR", raising=False)
    dispose_all()
    return tmp_path


def _events(home: Path) -> list[tuple[str, str, dict[str, object]]]:
    engine = make_engine(f"sqlite:///{home / 'chidao.db'}")
    ensure_schema(engine)
    try:
        return [(e.type, e.actor, e.payload) for e in Directives.over(engine).events(DIRECTIVE)]
    finally:
        engine.dispose()


def test_launch_names_the_operator_given(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full", "--operator", "nguyen-thi-lan"]) == 0
    assert [(t, a) for t, a, _ in _events(home)] == [
        ("DirectiveIssued", "operator:nguyen-thi-lan"),
        ("CycleOpened", "operator:nguyen-thi-lan"),
    ]


def test_the_setting_then_the_login_name_when_no_option(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full"]) == 0
    assert _events(home)[0][1] == f"operator:{getpass.getuser()}"
    monkeypatch.setenv("CHIDAO_OPERATOR", "tran.van-binh@so-gddt")
    assert main(["amend", DIRECTIVE, str(D2810), "--reason", "Đính chính"]) == 0
    assert _events(home)[-1][:2] == ("DefinitionAmended", "operator:tran.van-binh@so-gddt")


def test_a_malformed_operator_id_is_refused_and_nothing_written(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full", "--operator", "x y"]) == 1
    assert "--operator" in capsys.readouterr().err
    assert _events(home) == []


def test_a_paper_report_names_its_author(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full", "--operator", "lan"]) == 0
    today = dt.datetime.now(TIMEZONE).date()  # the CLI records at the real time
    code = main(
        ["record-report", DIRECTIVE, "ubnd-ba-to", "--received-on", f"{today:%d/%m/%Y}",
         "--reason", "Văn bản giấy, nhập muộn", "--operator", "binh"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    kind, actor, payload = _events(home)[-1]
    assert (kind, actor) == ("ReportSubmitted", "operator:binh")
    assert payload["received"] == {
        "on": today.isoformat(), "reason": "Văn bản giấy, nhập muộn", "by": "operator:binh"
    }
    assert f"{today:%d/%m/%Y}" in out and "operator:binh" in out


def test_a_paper_report_before_issuance_is_refused_with_a_message(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full", "--operator", "lan"]) == 0
    before = len(_events(home))
    code = main(
        ["record-report", DIRECTIVE, "ubnd-ba-to", "--received-on", "01/01/2020",
         "--reason", "Giấy", "--operator", "binh"]
    )
    assert code == 1
    assert "trước ngày ban hành văn bản" in capsys.readouterr().err  # Vietnamese by default
    assert len(_events(home)) == before
