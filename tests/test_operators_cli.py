"""`chidao operators …` and `chidao explain ask` on a ledger of their own: what is recorded,
under whom, and the refusals of a user's mistakes (status 2 for a wrong command line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chidao.cli import main
from ledger.db import make_engine
from ledger.store import EventStore
from tests.lifecycle.helpers import issued_ledger


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    issued_ledger(url)
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", url)
    monkeypatch.setenv("CHIDAO_LANG", "vi")
    monkeypatch.setenv("CHIDAO_OPERATOR", "quan.tri")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    run.url = url  # type: ignore[attr-defined]
    return run


def test_operators_are_ledger_events_and_mistakes_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("operators", "add", "lanh.dao", "--name", "Nguyễn Văn Lãnh", "--role", "overseer")[0] == 0
    code, _out, err = cli("operators", "add", "x", "--name", "X", "--role", "boss")
    assert code == 2 and "boss" in err
    code, _out, err = cli("operators", "add", "lanh.dao", "--name", "Lại", "--role", "issuer")
    assert code == 1 and "lanh.dao" in err
    code, _out, err = cli("operators", "link", "ai.do")
    assert code == 1 and "ai.do" in err
    code, out, err = cli("operators", "link", "lanh.dao")
    assert code == 0 and "/ops/signin?token=" in out and "có hiệu lực đến" in err
    assert cli("operators", "remove", "lanh.dao", "--reason", "nghỉ hưu")[0] == 0
    assert cli("operators", "link", "lanh.dao")[0] == 1
    engine = make_engine(cli.url)
    found = [(e.type, e.actor) for e in EventStore(engine).read("operators")]
    engine.dispose()
    assert found == [("OperatorAdded", "operator:quan.tri"), ("OperatorRemoved", "operator:quan.tri")]
    # the operators stream is no directive
    code, out, _err = cli("status", "--json")
    assert code == 0 and '"operators"' not in out


def test_explain_ask_records_the_operator_and_refuses_what_is_not_late(cli) -> None:  # type: ignore[no-untyped-def]
    # the ledger's 2810 is issued on 20/06/2023; today its 2023 report is long overdue
    code, out, err = cli("explain", "ask", "qn-2810-ubnd-kgvx-2023", "ubnd-ba-to", "--cycle", "2023",
                         "--due", "31/12/2099")
    assert code == 0, err
    assert "ubnd-ba-to" in out
    code, _out, err = cli("explain", "ask", "qn-2810-ubnd-kgvx-2023", "ubnd-ba-to", "--cycle", "2023",
                          "--due", "31/12/2099")
    assert code == 1 and "not answered yet" in err
    code, _out, err = cli("explain", "ask", "qn-2810-ubnd-kgvx-2023", "ubnd-ba-to", "--cycle", "2023",
                          "--due", "tomorrow")
    assert code == 2 and "tomorrow" in err
    code, _out, err = cli("explain", "ask", "nope", "ubnd-ba-to", "--cycle", "2023", "--due", "31/12/2099")
    assert code == 1 and "nope" in err
    engine = make_engine(cli.url)
    asked = [e for e in EventStore(engine).read("qn-2810-ubnd-kgvx-2023") if e.type == "ExplanationRequested"]
    engine.dispose()
    assert [(e.actor, e.payload["due"]) for e in asked] == [("operator:quan.tri", "2099-12-31")]
