"""Launch sees the calendar: a directive whose dates have passed is not launched without a policy.

5185 was issued on 05/10/2021; launched today, without a policy it would open every cycle since
2021 and escalate every agency at once. Without `--catch-up` the launch prints the preview and
the choices, exits 2 and records nothing (no ledger even); `--dry-run` prints the same and
records nothing; `--catch-up current` opens only the current cycle, the earlier ones recorded
as not tracked, and its first run sends nothing about them; `--catch-up summary` leaves every
overdue cycle untracked and sends each agency one digest of what it owed, and no escalation.
The preview is in the operator's language (Vietnamese; English with `--lang en`).
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
    assert main(["launch", str(D5185), "--lang", "en"]) == 2
    out = capsys.readouterr().out
    from tests.test_vietnam_time import mixed_language

    assert mixed_language(out, "en") == [], out
    this_year = str(local_date(dt.datetime.now(dt.UTC)).year)
    assert "cycles opened: 2021, 2022, 2023" in out
    assert "escalations (" in out and "level 2 → ubnd-tinh" in out
    assert "--catch-up current" in out and "--catch-up summary" in out
    assert "--catch-up full" in out
    assert f"open only the current cycle ({this_year})" in out
    assert "nothing was recorded" in out
    assert not (home / "chidao.db").exists()  # not even an empty ledger
    assert not (home.parent / "mail").exists()  # no mail

    assert main(["launch", str(D5185)]) == 2  # the same, in Vietnamese by default
    out = capsys.readouterr().out
    assert "các kỳ được mở: 2021, 2022, 2023" in out and "cấp 2 → ubnd-tinh" in out
    assert f"chỉ mở kỳ hiện tại ({this_year})" in out and "chưa ghi nhận gì" in out
    assert "cycles opened" not in out and "level 2" not in out
    from tests.test_vietnam_time import mixed_language

    assert mixed_language(out, "vi") == []
    assert not (home / "chidao.db").exists()

    assert main(["launch", str(D5185), "--dry-run", "--catch-up", "current", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert f"cycles opened: {this_year}" in out
    assert "cycles recorded as not tracked: 2021, 2022" in out
    assert "nothing was recorded" in out
    assert not (home / "chidao.db").exists()

    assert main(["launch", str(D5185), "--dry-run", "--catch-up", "summary"]) == 0
    out = capsys.readouterr().out
    assert "các kỳ ghi nhận không theo dõi: 2021, 2022" in out
    assert "thư tổng hợp quá hạn, mỗi cơ quan một thư (26)" in out
    assert "đôn đốc (" not in out  # no escalation at all
    assert "không ghi nhận gì, không gửi gì" in out
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


@pytest.mark.prefect
@pytest.mark.anyio
async def test_catch_up_summary_sends_one_digest_per_agency_and_no_escalation(
    prefect_server: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5185 launched today with `--catch-up summary`: the overdue cycles are recorded as not
    tracked and summarised per agency (events), and the first run's mail, read back from a
    real SMTP server, is one digest per agency, in the directive's language, no escalation."""
    from flows.directive import directive
    from tests.flows.smtp import Inbox, SmtpServer

    inbox = Inbox()
    with SmtpServer(inbox) as server:
        monkeypatch.delenv("CHIDAO_MAIL_DRY_RUN_DIR", raising=False)
        monkeypatch.setenv("CHIDAO_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CHIDAO_SMTP_PORT", str(server.port))
        assert main(["launch", str(D5185), "--catch-up", "summary", "--no-run"]) == 0
        directives = _directives(home)
        state = directives.state(DIRECTIVE)
        today = local_date(dt.datetime.now(dt.UTC))
        resolved = state.definition
        overdue = [c.id for c in resolved.cycles if c.report_due < today]
        assert [c.id for c in state.cycles.values() if c.not_tracked] == overdue
        events = directives.events(DIRECTIVE)
        summaries = {e.payload["agency"]: e.payload for e in events if e.type == "OverdueSummarised"}
        tracked = {a.id for a in resolved.tracked}
        assert set(summaries) == tracked  # one per agency, recorded as events
        for payload in summaries.values():
            assert {o["cycle"] for o in payload["overdue"]} == set(overdue)

        await directive(directive_id=DIRECTIVE, schedule_next=False)
    events = directives.events(DIRECTIVE)
    assert not [e for e in events if e.type == "EscalationRaised"]
    assert not [e for e in events if e.type == "ReminderSent"]
    digests = [e for e in events if e.type == "NoticeSent" and "overdue_summary" in str(e.payload)]
    assert len(digests) == len(tracked)
    # the mail of one address and day goes as one message (a digest of its notices)
    texts: dict[str, list[str]] = {}
    for message in inbox.messages:
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = " ".join(body.get_content().split())  # lines as written, folded or not
        texts.setdefault(str(message["To"]), []).append(str(message["Subject"]) + " " + text)
        assert "Đôn đốc" not in text and "Overdue" not in text and "Dear" not in text
    # every tracked agency with an address is told once, in Vietnamese (5185's language)
    addressed = {a.email: a.id for a in resolved.tracked if a.email}
    assert addressed and set(addressed) <= set(texts)
    since = f"trước năm {int(overdue[-1]) + 1}"
    for address, agency in addressed.items():
        owed = len(summaries[agency]["overdue"])  # the consolidator owes its consolidations too
        told = [t for t in texts[address] if f"Quá hạn: {owed} báo cáo chưa nhận được {since}" in t]
        assert len(told) == 1, (address, texts[address][0][:1500])
        assert all(f"năm {c}, hạn" in told[0] for c in overdue)


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
        assert main(["launch", str(D5185), "--catch-up", "current", "--lang", "en"]) == 0
    captured = capsys.readouterr()
    assert DIRECTIVE in captured.out
    assert f"the Prefect server at http://127.0.0.1:{closed}/api does not answer" in captured.err
    assert "first run will be created when the server is back" in captured.err
    assert f"chidao status {DIRECTIVE}" in captured.err
    assert "ObjectNotFound" not in captured.err
    assert _directives(home).exists(DIRECTIVE)
