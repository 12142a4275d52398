"""Sending through a real SMTP server on loopback: issuance, digest, outage, failure, dry run."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from definitions.calendar import TIMEZONE, default_calendar
from definitions.resolve import ResolvedDirective
from ledger.directives import Directives
from ledger.store import EventStore
from lifecycle import PerformAction
from lifecycle.commands import Issue
from lifecycle.planner import due_actions
from notifications.compose import Notice, compose
from notifications.mailer import SmtpConfig, deliver_pending
from notifications.outbox import Outbox, message_id_for, record_deliveries, settled
from tests.notifications.conftest import ANSWER_URL, SmtpServer, due, issued_at, issued_state


def issuance_notices(resolved: ResolvedDirective, at: dt.datetime | None = None) -> list[Notice]:
    at = at or issued_at(resolved)
    state = issued_state(resolved, at)
    actions = due(state, at, "issue_notice")
    return [n for a in actions for n in compose(a, state, answer_url=ANSWER_URL)]


def deliver(outbox: Outbox, config: SmtpConfig, now: dt.datetime, **kw: object) -> list:  # type: ignore[type-arg]
    return asyncio.run(deliver_pending(outbox, config, now=now, **kw))  # type: ignore[arg-type]


def test_issuance_of_2810_reaches_every_tracked_agency_in_vietnamese(
    smtp: SmtpServer, outbox: Outbox, r2810: ResolvedDirective
) -> None:
    notices = issuance_notices(r2810)
    assert len(notices) == 16 == len(r2810.tracked)
    now = issued_at(r2810)
    assert outbox.enqueue(notices, now=now) == 16
    assert outbox.enqueue(notices, now=now) == 0  # the same keys again: nothing new
    deliveries = deliver(outbox, smtp.config(), now)
    assert all(d.ok for d in deliveries) and len(deliveries) == 16
    received = smtp.messages
    assert len(received) == 16
    by_address = {str(m["To"]): m for m in received}
    assert set(by_address) == {a.email for a in r2810.tracked}
    gddt = by_address["so-gddt@quangngai.example"]
    subject = str(gddt["Subject"])
    assert subject.startswith("[2810/UBND-KGVX] Giao nhiệm vụ theo Công văn số 2810/UBND-KGVX ngày 20/6/2023")
    assert "hạn báo cáo 30/11/2023" in subject
    text = gddt.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = gddt.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "Kính gửi" in body
        assert "Sở Giáo dục và Đào tạo" in body
        assert "Công văn số 2810/UBND-KGVX" in body
        assert "chủ trì" in body
        assert f"{ANSWER_URL}/v1/directives/qn-2810-ubnd-kgvx-2023/agencies/so-gddt" in body
    assert "30/11/2023" in text and "15/12/2023" in text  # report due, consolidation due
    assert "Ủy ban nhân dân huyện Lý Sơn" in str(
        by_address["ubnd-ly-son@quangngai.example"].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    )
    assert gddt["Message-ID"] == message_id_for(["qn-2810-ubnd-kgvx-2023:-:so-gddt:issue_notice:0"])
    assert str(gddt["Auto-Submitted"]) == "auto-generated"
    assert not outbox.pending() and len(outbox.sent()) == 16


def test_an_agency_due_twice_on_a_day_gets_one_digest(
    smtp: SmtpServer, outbox: Outbox, r2810: ResolvedDirective, r5185: ResolvedDirective
) -> None:
    # Both directives issued (in simulation) the same morning: so-gddt is told twice.
    now = dt.datetime(2023, 6, 20, 8, tzinfo=TIMEZONE)
    notices = issuance_notices(r2810, now) + issuance_notices(r5185, now)
    outbox.enqueue(notices, now=now)
    deliveries = deliver(outbox, smtp.config(), now)
    to_gddt = [m for m in smtp.messages if str(m["To"]) == "so-gddt@quangngai.example"]
    assert len(to_gddt) == 1
    digest = to_gddt[0]
    subject = str(digest["Subject"])
    assert "2810/UBND-KGVX" in subject and "5185/UBND-KGVX" in subject and "2 thông báo" in subject
    text = digest.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Công văn số 2810/UBND-KGVX ngày 20/6/2023" in text
    assert "Công văn số 5185/UBND-KGVX ngày 05/10/2021" in text
    keys = sorted(n.key for n in notices if n.recipient == "so-gddt")
    assert digest["Message-ID"] == message_id_for(keys)
    # the digest is recorded on each directive under each directive's key
    gddt = [d for d in deliveries if d.recipient == "so-gddt"]
    assert sorted(d.directive for d in gddt) == ["qn-2810-ubnd-kgvx-2023", "qn-5185-ubnd-kgvx-2021"]
    assert {d.message_id for d in gddt} == {digest["Message-ID"]}
    # every address got exactly one message
    assert len({str(m["To"]) for m in smtp.messages}) == len(smtp.messages)


def test_a_reminder_and_a_consolidation_request_on_one_day_are_one_message(
    smtp: SmtpServer, outbox: Outbox, r2810: ResolvedDirective
) -> None:
    state = issued_state(r2810)
    from tests.lifecycle.helpers import advance, at

    advance(state, at(2023, 11, 30, 7))
    day = at(2023, 12, 1, 9)
    actions = [a for a in due_actions(state, day, default_calendar())
               if a.recipient == "so-gddt" and a.kind in ("request_consolidation", "escalate")]
    assert {a.kind for a in actions} == {"request_consolidation", "escalate"}
    notices = [n for a in actions for n in compose(a, state, answer_url=ANSWER_URL)]
    outbox.enqueue(notices, now=day)
    deliveries = deliver(outbox, smtp.config(), day)
    assert len(smtp.messages) == 1
    assert {d.kind for d in deliveries} == {"consolidation_request", "escalation"}


def test_an_outage_mid_run_loses_nothing_and_duplicates_nothing(
    smtp: SmtpServer, outbox: Outbox, r2810: ResolvedDirective, r5185: ResolvedDirective
) -> None:
    outbox.enqueue(issuance_notices(r2810), now=issued_at(r2810))
    outbox.enqueue(issuance_notices(r5185), now=issued_at(r5185))  # another day: no digest
    expected = len(outbox.pending())
    assert expected == 16 + 26
    config = smtp.config(timeout_seconds=0.5)
    now = issued_at(r2810) + dt.timedelta(hours=1)
    smtp.outage_after(5)  # five messages go, the sixth is refused and the server goes down
    first = deliver(outbox, config, now, max_attempts=3)
    assert len(first) == 5 and all(d.ok for d in first)
    assert deliver(outbox, config, now + dt.timedelta(minutes=1), max_attempts=3) == []
    pending = outbox.pending()
    assert len(pending) == expected - 5 and all(r.attempts == 2 for r in pending)
    assert any("unreachable" in (r.last_error or "") for r in pending)
    smtp.start()  # back on the same port
    back = deliver(outbox, config, now + dt.timedelta(minutes=2), max_attempts=3)
    assert len(back) == expected - 5 and all(d.ok for d in back)
    assert not outbox.pending() and not outbox.failed()
    ids = Counter(str(m["Message-ID"]) for m in smtp.messages)
    assert len(ids) == expected and set(ids.values()) == {1}
    assert ids.keys() == {r.message_id for r in outbox.sent()}


def test_a_message_over_max_attempts_fails_and_goes_up_the_escalation_path(
    smtp: SmtpServer, engine, r2810: ResolvedDirective  # type: ignore[no-untyped-def]
) -> None:
    directives = Directives(EventStore(engine))
    outbox = Outbox(engine)
    now = issued_at(r2810)
    directives.execute(r2810.definition.id, Issue(actor="operator", resolved=r2810.model_dump(mode="json")),
                       now, key="issue")
    state = directives.state(r2810.definition.id)
    action = next(a for a in due(state, now, "issue_notice") if a.agency == "so-ldtbxh")
    outbox.enqueue(compose(action, state, answer_url=ANSWER_URL), now=now)
    directives.execute(r2810.definition.id, PerformAction(actor="system", action=action), now, key=action.key)
    smtp.stop()
    config = smtp.config(timeout_seconds=0.5)
    results = [deliver(outbox, config, now + dt.timedelta(minutes=i), max_attempts=3) for i in range(3)]
    assert results[0] == [] and results[1] == []
    (failure,) = results[2]
    assert not failure.ok and failure.keys == [action.key] and failure.recipient == "so-ldtbxh"
    assert [r.key for r in outbox.failed()] == [action.key]
    assert deliver(outbox, config, now + dt.timedelta(minutes=5)) == []  # failed is not retried
    later = now + dt.timedelta(minutes=3)
    assert record_deliveries(directives, results[2], later) == 1
    assert record_deliveries(directives, settled(outbox), later) == 0  # recorded once
    state = directives.state(r2810.definition.id)
    proposals = [a for a in due_actions(state, later, default_calendar()) if a.kind == "delivery_failed"]
    assert len(proposals) == 1
    proposal = proposals[0]
    assert proposal.agency == "so-ldtbxh" and proposal.recipient == "ubnd-tinh"
    (notice,) = compose(proposal, state, answer_url=ANSWER_URL)
    assert notice.email == "ubnd-tinh@quangngai.example"
    assert "Không gửi được thư đến Sở Lao động - Thương binh và Xã hội" in notice.subject
    assert "unreachable" in notice.text


def test_a_recipient_without_address_fails_at_once(outbox: Outbox, smtp: SmtpServer, r2810: ResolvedDirective) -> None:
    (notice, *_) = issuance_notices(r2810)
    now = issued_at(r2810)
    outbox.enqueue([notice.model_copy(update={"email": ""})], now=now)
    (failure,) = deliver(outbox, smtp.config(), now)
    assert not failure.ok and "no e-mail address" in (failure.error or "")
    assert smtp.messages == []


def test_dry_run_writes_eml_files_instead_of_sending(
    smtp: SmtpServer, outbox: Outbox, r2810: ResolvedDirective, tmp_path: Path
) -> None:
    now = issued_at(r2810)
    outbox.enqueue(issuance_notices(r2810), now=now)
    folder = tmp_path / "mail"
    deliveries = deliver(outbox, smtp.config(dry_run_dir=folder), now)
    assert len(deliveries) == 16 and all(d.ok for d in deliveries)
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 16
    assert smtp.messages == []
    import email
    import email.policy

    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert str(parsed["Subject"]).startswith("[2810/UBND-KGVX]")


def test_security_maps_to_aiosmtplib_arguments() -> None:
    assert SmtpConfig(security="none").smtp_kwargs()["start_tls"] is False
    assert SmtpConfig(security="none").smtp_kwargs()["use_tls"] is False
    starttls = SmtpConfig(security="starttls", port=587).smtp_kwargs()
    assert starttls["start_tls"] is True and starttls["use_tls"] is False
    tls = SmtpConfig(security="tls", port=465).smtp_kwargs()
    assert tls["use_tls"] is True and tls["start_tls"] is False


def test_from_settings_reads_the_chidao_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chidao.settings import load_settings

    monkeypatch.setenv("CHIDAO_SMTP_HOST", "mail.example")
    monkeypatch.setenv("CHIDAO_SMTP_PORT", "465")
    monkeypatch.setenv("CHIDAO_SMTP_SECURITY", "tls")
    monkeypatch.setenv("CHIDAO_SMTP_USERNAME", "chidao")
    monkeypatch.setenv("CHIDAO_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("CHIDAO_MAIL_DRY_RUN_DIR", str(tmp_path))
    config = SmtpConfig.from_settings(load_settings())
    assert (config.host, config.port, config.security, config.username) == ("mail.example", 465, "tls", "chidao")
    assert config.password is not None and config.password.get_secret_value() == "s3cret"
    assert config.dry_run_dir == tmp_path
    assert "s3cret" not in repr(config)


# aiosmtpd warns that AUTH without TLS is unsafe; on loopback in a test that is the point
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_authenticated_send(smtp_auth: SmtpServer, outbox: Outbox, r2810: ResolvedDirective) -> None:
    now = issued_at(r2810)
    outbox.enqueue(issuance_notices(r2810)[:2], now=now)
    wrong = deliver(outbox, smtp_auth.config(username="chidao", password="wrong"), now)
    assert wrong == [] and smtp_auth.messages == []
    errors = [r.last_error or "" for r in outbox.pending()]
    assert len(errors) == 2 and all("535" in e or "Authentication" in e for e in errors), errors
    right = deliver(outbox, smtp_auth.config(username="chidao", password="mat-khau"), now)
    assert len(right) == 2 and all(d.ok for d in right)
    assert len(smtp_auth.messages) == 2
