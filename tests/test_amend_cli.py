"""`chidao amend --dry-run` shows who gets what and records nothing; without it the hand-overs are
recorded; a bad hand-over or an abandoned ended agency is refused with nothing recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from chidao.cli import main
from definitions.calendar import TIMEZONE
from definitions.loader import DIRECTIVES_DIR
from flows.launch import resolve_file
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from lifecycle import commands as cmd

D2810 = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"
ID = "qn-2810-ubnd-kgvx-2023"


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
    resolved = resolve_file(D2810).model_dump(mode="json")
    directives.execute(
        ID, cmd.Issue(actor="operator", resolved=resolved),
        dt.datetime(2023, 6, 20, 9, tzinfo=TIMEZONE), key="issue",
    )  # fmt: skip
    return directives


TRANSFERS = ["--transfer", "so-ldtbxh=so-noi-vu", "--transfer", "ubnd-cap-huyen=successors"]


def test_dry_run_prints_who_gets_what_and_records_nothing(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    version = ledger.store.version(ID)
    code = main(["amend", ID, str(D2810), *TRANSFERS, "--on", "2025-07-01", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    agencies = out["agencies"]
    assert agencies["so-ldtbxh"][0].startswith("hands its open work over to so-noi-vu")
    assert "takes over the work of so-ldtbxh" in agencies["so-noi-vu"]
    assert any("owes a report due 30/11/2023" in line for line in agencies["so-noi-vu"])
    assert any(line.startswith("hands its open work over to ubnd-dac-khu-ly-son")
               for line in agencies["ubnd-ly-son"])  # fmt: skip
    assert agencies["ubnd-xa-dong-son"][:2] == [
        "takes over the work of ubnd-tp-quang-ngai", "takes over the work of ubnd-binh-son",
    ]  # fmt: skip
    assert ledger.store.version(ID) == version

    assert main(["amend", ID, str(D2810), *TRANSFERS, "--on", "2025-07-01", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "nothing recorded" in text and "  ubnd-ba-to\n" in text
    assert ledger.store.version(ID) == version


def test_the_amendment_records_every_hand_over(
    ledger: Directives, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["amend", ID, str(D2810), *TRANSFERS, "--author", "Nguyễn Văn A", "--reason", "Sắp xếp 2025"])
    assert code == 0 and "(58 hand-overs)" in capsys.readouterr().out
    events = ledger.events(ID)
    amended = [e for e in events if e.type == "DefinitionAmended"]
    assert amended[0].payload["author"] == "Nguyễn Văn A"
    assert amended[0].payload["reason"] == "Sắp xếp 2025"
    assert sum(1 for e in events if e.type == "WorkTransferred") == 58


@pytest.mark.parametrize(
    ("transfers", "message"),
    [
        ([], "would leave the work of agencies that have ended with nobody"),
        (["--transfer", "so-ldtbxh=ubnd-ba-to"], "'ubnd-ba-to' is not valid then"),
        (["--transfer", "so-ldtbxh=so-khong-co"], "successor 'so-khong-co' of 'so-ldtbxh' does not exist"),
        (["--transfer", "so-gddt=successors"], "'so-gddt' still exists"),
        (["--transfer", "so-ldtbxh"], "expected FROM=TO"),
    ],
)
def test_bad_amendments_are_refused_and_nothing_is_recorded(
    ledger: Directives, capsys: pytest.CaptureFixture[str], transfers: list[str], message: str
) -> None:
    version = ledger.store.version(ID)
    code = main(["amend", ID, str(D2810), *transfers])
    err = capsys.readouterr().err
    assert code != 0 and message in err, err
    assert "Traceback" not in err
    assert ledger.store.version(ID) == version
