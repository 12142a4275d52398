"""The mail server is down: Prefect retries the send with backoff, the ledger records the failure,
the status shows it, the escalation path is told, and the lifecycle goes on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chidao.cli.flow_cmd import status_as_json
from definitions.calendar import TIMEZONE
from flows.directive import directive
from tests.flows.smtp import Inbox, SmtpServer, free_port
from tests.lifecycle.helpers import issued_ledger

pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.anyio]

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"


async def test_failed_mail_is_recorded_shown_and_escalated(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    directives = issued_ledger(url)
    port = free_port()  # nothing listens there: every connection is refused
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", url)
    monkeypatch.setenv("CHIDAO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CHIDAO_SMTP_PORT", str(port))
    monkeypatch.setenv("CHIDAO_SMTP_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("CHIDAO_MAIL_RETRY_BASE_SECONDS", "0.05")
    monkeypatch.delenv("CHIDAO_MAIL_DRY_RUN_DIR", raising=False)

    first = dt.datetime(2023, 6, 20, 10, tzinfo=TIMEZONE)
    ended = await directive(
        directive_id=DIRECTIVE, at=first, schedule_next=False, return_state=True
    )
    # not plain success in the runs list: a Completed state named for the mail that waits
    assert ended.is_completed() and ended.name == "Thư chưa gửi được"
    assert "16 thư không gửi được" in (ended.message or "")
    result = await ended.result()
    assert result["mail_failed"] == 16
    assert len(result["performed"]) == 16  # the issuance notices were still recorded
    state = directives.state(DIRECTIVE)
    failed = [n for n in state.notifications.values() if n.status == "failed"]
    assert len(failed) == 16 and all(
        "refused" in n.detail.lower() or "connect" in n.detail.lower() for n in failed
    )
    shown = status_as_json(state, first)
    assert len(shown["failed_notifications"]) == 16

    # the next run tells the escalation path, and the lifecycle goes on
    inbox = Inbox()
    with SmtpServer(inbox, port=port):
        second = await directive(
            directive_id=DIRECTIVE, at=first + dt.timedelta(hours=1), schedule_next=False
        )
    told = [k for k in second["performed"] if k.endswith(":delivery-failed")]
    assert len(told) == 16
    assert {str(m["To"]) for m in inbox.messages} == {"ubnd-tinh@quangngai.example"}
    assert second["next_wakeup"] is not None
    assert directives.state(DIRECTIVE).status == "active"
