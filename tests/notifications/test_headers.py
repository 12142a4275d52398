"""Headers decode back to what was written: every template, both languages, every recipient.

Each message is built as it is sent (`build_message(...).as_bytes()`), parsed back with
Python's `email` parser (the modern policy and compat32, as mail clients differ) and its
Subject and text compared with what it was made from. Folding a long Vietnamese subject used
to drop the space between two encoded words (`báo cáo` → `báocáo`).
"""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import re
from email.message import EmailMessage, Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from definitions.resolve import ResolvedDirective
from notifications.compose import Notice
from notifications.errors import NotApplicable
from notifications.mailer import OutgoingMessage, build_message
from notifications.render import KINDS, DigestPart, render_digest
from notifications.samples import preview
from tests.notifications.conftest import ANSWER_URL, D2810, D5185, resolved

NOW = dt.datetime(2026, 12, 1, 20, 30, tzinfo=dt.UTC)
SENDER = "chidao@ubnd.quangngai.example.gov.vn"


def _outgoing(subject: str, text: str, html: str, language: str) -> OutgoingMessage:
    return OutgoingMessage((), "vanthu@example.gov.vn", "<m-1@chidao>", subject, text, html, language)


def _parsed(mime: EmailMessage) -> tuple[EmailMessage, Message]:
    raw = mime.as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    modern = email.message_from_bytes(raw, policy=email.policy.default)
    old = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert isinstance(modern, EmailMessage)
    return modern, old


def _old_subject(message: Message) -> str:
    # RFC 5322 unfolding; the space after the colon (or the fold right after it) is not text
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", message["Subject"]).lstrip(" \t")
    return str(email.header.make_header(email.header.decode_header(unfolded)))


def assert_round_trip(subject: str, text: str, html: str, language: str) -> None:
    modern, old = _parsed(build_message(_outgoing(subject, text, html, language), SENDER, now=NOW))
    assert modern["Subject"] == subject
    assert _old_subject(old) == subject
    body = modern.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == text
    html_part = modern.get_body(("html",))
    assert html_part is not None and html_part.get_content().replace("\r\n", "\n") == html


def _notices(r: ResolvedDirective, language: str) -> list[Notice]:
    found = []
    recipients = [a.id for a in r.tracked] + [r.issuer.id]
    for kind in KINDS:
        for agency in recipients:
            for level in (1, 2) if kind == "escalation" else (1,):
                try:
                    found.append(preview(r, agency, kind, answer_url=ANSWER_URL,
                                         language=language, level=level))  # type: ignore[arg-type]
                except NotApplicable:
                    continue
    return found


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("path", [D2810, D5185], ids=["2810", "5185"])
def test_every_template_for_every_recipient_decodes_back(path: object, language: str) -> None:
    r = resolved(path)
    notices = _notices(r, language)
    assert {n.kind for n in notices} == set(KINDS)  # every template is covered
    longest = max(len(n.subject) for n in notices)
    assert longest > 78  # long agency names: the subject folds over several lines
    for notice in notices:
        assert_round_trip(notice.subject, notice.text, notice.html, language)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_digest_decodes_back(language: str) -> None:
    r = resolved(D5185)
    parts = [DigestPart(n.subject, n.text, n.html) for n in _notices(r, language)[:6]]
    digest = render_digest(language, NOW.date(), parts)
    assert_round_trip(digest.subject, digest.text, digest.html, language)


WORDS = st.text(
    alphabet=st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạấầẩẫậếềểễệốồổỗộớờởỡợứừửữựíìỉĩịýỳỷỹỵ"
                                  "ĐĂÂÊÔƠƯỦY-–—/[]0123456789")),
    min_size=1, max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=40))
def test_any_vietnamese_subject_decodes_back(words: list[str]) -> None:
    subject = " ".join(words)
    assert_round_trip(subject, "x\n", "<p>x</p>\n", "vi")


def test_the_standard_folder_loses_spaces_which_is_why_the_policy_is_ours() -> None:
    """The failure this guards against, shown on the standard SMTP policy."""
    subject = ("[2810/UBND-KGVX] Đề nghị tổng hợp báo cáo kết quả thực hiện năm 2023 — "
               "Ủy ban nhân dân huyện Ba Tơ và Sở Lao động - Thương binh và Xã hội")
    standard = EmailMessage(policy=email.policy.SMTP)
    standard["Subject"] = subject
    standard.set_content("x")
    back = email.message_from_bytes(standard.as_bytes(), policy=email.policy.default)
    if back["Subject"] == subject:
        pytest.skip("this Python's folder keeps the spaces; the policy is harmless")
    assert back["Subject"].replace(" ", "") == subject.replace(" ", "")
    assert_round_trip(subject, "x\n", "<p>x</p>\n", "vi")
