"""What an operator does from the command line: launch once, see the status, amend a live directive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from chidao.cli import main
from definitions.loader import DIRECTIVES_DIR
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from ledger.store import EventStore

D2810 = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"
DIRECTIVE = "qn-2810-ubnd-kgvx-2023"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    return tmp_path


def _directives(home: Path) -> Directives:
    engine = make_engine(f"sqlite:///{home / 'chidao.db'}")
    ensure_schema(engine)
    return Directives(EventStore(engine))


def test_launch_records_issuance_once_and_refuses_a_second_launch(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full"]) == 0
    assert "qn-2810-ubnd-kgvx-2023 (2810/UBND-KGVX) đã ghi nhận ban hành" in capsys.readouterr().out
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full"]) == 1
    assert "đã được khởi chạy lúc" in capsys.readouterr().err  # Vietnamese by default
    events = _directives(home).events(DIRECTIVE)
    assert [e.type for e in events] == ["DirectiveIssued", "CycleOpened"]


def test_an_invalid_definition_is_never_launched(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(D2810.read_text(encoding="utf-8"))
    data["reporting"]["to"] = "so-gdt"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["launch", str(bad), "--no-run"]) == 1
    err = capsys.readouterr().err
    assert "chưa ghi nhận gì" in err and "did you mean 'so-gddt'" in err
    assert _directives(home).ids() == []


def test_status_shows_every_agency_in_the_four_way_classification(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full"]) == 0
    capsys.readouterr()
    assert main(["status", DIRECTIVE, "--json", "--as-of", "2023-12-01T10:00:00+07:00"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cycle"] == "2023" and len(data["agencies"]) == 16
    assert data["counts"]["overdue"] == 16  # nobody reported by 30/11/2023
    assert data["next"]["at"] is not None
    assert main(["status"]) == 0
    assert "2810/UBND-KGVX" in capsys.readouterr().out


def test_amend_moves_a_deadline_and_adds_an_agency_without_restarting(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D2810), "--no-run", "--catch-up", "full"]) == 0
    data = yaml.safe_load(D2810.read_text(encoding="utf-8"))
    data["reporting"]["due"] = {"each_year": "05/12"}
    data["assignments"][2]["agencies"].append({"agency": "so-vhttdl", "role": "coordinate"})
    amended = tmp_path / "amended.yaml"
    amended.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["amend", DIRECTIVE, str(amended), "--reason", "Gia hạn chung đến 05/12"]) == 0
    assert "có hiệu lực từ lần chạy sau" in capsys.readouterr().out
    state = _directives(home).state(DIRECTIVE)
    assert [e.type for e in _directives(home).events(DIRECTIVE)] == [
        "DirectiveIssued",
        "CycleOpened",
        "DefinitionAmended",
    ]
    works = state.cycles["2023"].works
    assert works["ubnd-ly-son"].due.isoformat() == "2023-12-05"
    assert "so-vhttdl" in works and works["so-vhttdl"].due.isoformat() == "2023-12-05"
    assert main(["amend", "qn-5185-ubnd-kgvx-2021", str(amended)]) == 1
    assert "định nghĩa qn-2810-ubnd-kgvx-2023" in capsys.readouterr().err


@pytest.mark.prefect
@pytest.mark.anyio
async def test_the_launch_deployment_validates_before_recording_anything(
    prefect_server: str, home: Path
) -> None:
    from definitions.errors import DefinitionError
    from flows.launch import LaunchRefused, PolicyNeeded, launch

    text = D2810.read_text(encoding="utf-8").replace("to: so-gddt", "to: so-gdt", 1)
    with pytest.raises(DefinitionError, match="did you mean 'so-gddt'"):
        await launch(definition_yaml=text)
    with pytest.raises(LaunchRefused, match="hãy cho definition_path hoặc definition_yaml"):
        await launch()
    # past its dates: the deployment takes the policy as a parameter, and without it records nothing
    d5185 = str(D2810.with_name("qn-5185-ubnd-kgvx-2021.yaml"))
    with pytest.raises(PolicyNeeded, match="--catch-up current"):
        await launch(definition_path=d5185)
    with pytest.raises(LaunchRefused, match="cách xử lý kỳ đã qua 'later'"):
        await launch(definition_path=d5185, catch_up="later")
    assert _directives(home).ids() == []
