"""Launch sees the calendar: a directive whose dates have passed is not launched without a policy.

5185 was issued on 05/10/2021; launched today, without a policy it would open every cycle since
2021 and escalate every agency at once. Without `--catch-up` the launch prints the preview and
the choices, exits 2 and records nothing (no ledger even); `--dry-run` prints the same and
records nothing; `--catch-up current` opens only the current cycle, the earlier ones recorded
as not tracked, and its first run sends nothing about them.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest

from chidao.cli import main
from definitions.calendar import local_date
from definitions.loader import DIRECTIVES_DIR
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from ledger.store import EventStore

D5185 = DIRECTIVES_DIR / "qn-5185-ubnd-kgvx-2021.yaml"
DIRECTIVE = "qn-5185-ubnd-kgvx-2021"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_MAIL_DRY_RUN_DIR", str(tmp_path / "mail"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path / "home"


def _directives(home: Path) -> Directives:
    engine = make_engine(f"sqlite:///{home / 'chidao.db'}")
    ensure_schema(engine)
    return Directives(EventStore(engine))


def test_without_a_policy_the_preview_and_the_choices_and_nothing_recorded(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch", str(D5185)]) == 2
    out = capsys.readouterr().out
    this_year = str(local_date(dt.datetime.now(dt.UTC)).year)
    assert "cycles opened: 2021, 2022, 2023" in out
    assert "escalations (" in out and "level 2 → ubnd-tinh" in out
    assert "--catch-up current" in out and "--catch-up full" in out
    assert f"open only the current cycle ({this_year})" in out
    assert "nothing was recorded" in out
    assert not (home / "chidao.db").exists()  # not even an empty ledger
    assert not (home.parent / "mail").exists()  # no mail

    assert main(["launch", str(D5185), "--dry-run", "--catch-up", "current"]) == 0
    out = capsys.readouterr().out
    assert f"cycles opened: {this_year}" in out
    assert "cycles recorded as not tracked: 2021, 2022" in out
    assert "nothing was recorded" in out
    assert not (home / "chidao.db").exists()


@pytest.mark.prefect
@pytest.mark.anyio
async def test_catch_up_current_opens_only_the_current_cycle(
    prefect_server: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.directive import directive

    assert main(["launch", str(D5185), "--catch-up", "current", "--no-run"]) == 0
    directives = _directives(home)
    state = directives.state(DIRECTIVE)
    this_year = str(local_date(dt.datetime.now(dt.UTC)).year)
    earlier = [c for c in state.cycles.values() if c.not_tracked]
    assert [c.id for c in earlier] == [str(y) for y in range(2021, int(this_year))]
    assert all(not c.works for c in earlier)

    await directive(directive_id=DIRECTIVE, schedule_next=False)
    state = directives.state(DIRECTIVE)
    tracked = [c.id for c in state.cycles.values() if not c.not_tracked]
    assert tracked == [this_year]
    events = directives.events(DIRECTIVE)
    touched = {e.payload.get("cycle") for e in events if e.type != "CyclesNotTracked"}
    assert touched - {None, "2021", this_year} == set()  # 2021 only as issuance opened it
    escalated = {e.payload["cycle"] for e in events if e.type == "EscalationRaised"}
    assert escalated <= {this_year}
    mails = list((home.parent / "mail").glob("*.eml"))
    assert mails
    for path in mails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = str(message["Subject"])
        assert not any(f"năm {y}" in text for y in range(2021, int(this_year)))


def test_launch_with_no_prefect_server_answers_at_once(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issuance recorded, the first run left to the sweeper, and how to check; no temporary
    server is started (it would print Prefect's ObjectNotFound after 15 s)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once this block ends
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{closed}/api"}):
        assert main(["launch", str(D5185), "--catch-up", "current"]) == 0
    captured = capsys.readouterr()
    assert DIRECTIVE in captured.out
    assert f"the Prefect server at http://127.0.0.1:{closed}/api does not answer" in captured.err
    assert "first run will be created when the server is back" in captured.err
    assert f"chidao status {DIRECTIVE}" in captured.err
    assert "ObjectNotFound" not in captured.err
    assert _directives(home).exists(DIRECTIVE)
