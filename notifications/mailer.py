"""Sending the outbox over SMTP with aiosmtplib: one attempt per pending message per call.

`deliver_pending` gathers the pending notices to one address created on the same local day
into one message (a digest), claims it in the outbox (counting the attempt and fixing its
Message-ID), sends it, and marks it sent as soon as the server accepts it. A crash between
the server's acceptance and the mark repeats that one message on the next call, with the
same Message-ID, which mail clients fold. Retrying with backoff is the caller's business (a
Prefect task's retries, or the next flow run): each call makes one attempt per message, and
a message whose attempts reach `max_attempts` is failed for good and reported.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, SecretStr

from definitions.calendar import local_date
from ledger.transaction import Faults, reach
from notifications.errors import NotificationError
from notifications.outbox import (
    NO_ADDRESS,
    Delivery,
    Outbox,
    OutboxRow,
    deliveries_of,
    message_id_for,
)
from notifications.render import DigestPart, render_digest

__all__ = ["Delivery", "SmtpConfig", "build_message", "deliver_pending", "plan_messages"]

Security = Literal["none", "starttls", "tls"]


class SmtpConfig(BaseModel):
    """Where and how to send mail; `dry_run_dir` writes `.eml` files there instead."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 1025
    sender: str = "chidao@ubnd.quangngai.example.gov.vn"
    username: str | None = None
    password: SecretStr | None = None
    security: Security = "none"
    timeout_seconds: float = 10.0
    dry_run_dir: Path | None = None
    validate_certs: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        """From a chidao `Settings`-like object (attributes `smtp_host` … `mail_dry_run_dir`)."""
        security = str(getattr(settings, "smtp_security", "none")).lower()
        if security not in ("none", "starttls", "tls"):
            raise NotificationError(
                f"smtp security must be none, starttls or tls, not {security!r}"
            )
        password = getattr(settings, "smtp_password", None)
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=getattr(settings, "smtp_username", None) or None,
            password=SecretStr(password) if isinstance(password, str) else password,
            security=security,  # type: ignore[arg-type]  # checked just above
            timeout_seconds=getattr(settings, "smtp_timeout_seconds", 10.0),
            dry_run_dir=getattr(settings, "mail_dry_run_dir", None),
        )

    def smtp_kwargs(self) -> dict[str, Any]:
        """The arguments of `aiosmtplib.SMTP` for this configuration."""
        return {
            "hostname": self.host,
            "port": self.port,
            "use_tls": self.security == "tls",
            # False, not None: aiosmtplib's None means "upgrade if the server offers it"
            "start_tls": self.security == "starttls",
            "timeout": self.timeout_seconds,
            "username": self.username,
            "password": self.password.get_secret_value() if self.password else None,
            "validate_certs": self.validate_certs,
        }


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one address: a single notice, or a digest of several."""

    rows: tuple[OutboxRow, ...]
    email: str
    message_id: str
    subject: str
    text: str
    html: str
    language: str

    @property
    def keys(self) -> list[str]:
        return [k for row in self.rows for k in row.action_keys]


def _local_day(row: OutboxRow) -> dt.date:
    return local_date(row.created_at)


def _message(rows: Sequence[OutboxRow], message_id: str | None = None) -> OutgoingMessage:
    ordered = tuple(sorted(rows, key=lambda r: (r.created_at, r.key)))
    first = ordered[0]
    if len(ordered) == 1:
        return OutgoingMessage(ordered, first.recipient, message_id or first.message_id,
                               first.subject, first.body_text, first.body_html, first.language)
    languages = {r.language for r in ordered}
    language = first.language if len(languages) == 1 else "vi"
    rendered = render_digest(
        language, _local_day(first),
        [DigestPart(r.subject, r.body_text, r.body_html) for r in ordered],
    )
    keys = [k for r in ordered for k in r.action_keys]
    return OutgoingMessage(ordered, first.recipient, message_id or message_id_for(keys),
                           rendered.subject, rendered.text, rendered.html, language)


def plan_messages(rows: Sequence[OutboxRow]) -> list[OutgoingMessage]:
    """The messages the pending rows make: one per address and local day, digests merged.

    Rows already attempted keep the grouping and Message-ID of their first attempt, so a
    retried (or repeated) message is the same message; notices that arrived since then go
    into a message of their own.
    """
    by_address: dict[tuple[str, dt.date], list[OutboxRow]] = {}
    for row in rows:
        by_address.setdefault((row.recipient, _local_day(row)), []).append(row)
    messages = []
    for group in by_address.values():
        tried: dict[str, list[OutboxRow]] = {}
        fresh = []
        for row in group:
            if row.attempts > 0:
                tried.setdefault(row.message_id, []).append(row)
            else:
                fresh.append(row)
        for message_id, same in tried.items():
            messages.append(_message(same, message_id))
        if fresh:
            messages.append(_message(fresh))
    return sorted(messages, key=lambda m: (m.rows[0].created_at, m.email, m.message_id))


# Free-text headers that may hold Vietnamese (the agency's name, the directive's subject).
WORDED_HEADERS = frozenset({"subject"})


class MailPolicy(EmailPolicy):
    """The SMTP policy, except that the Subject is folded by `email.header.Header`.

    The standard folder (Python's `email._header_value_parser`, 3.11–3.13) splits a long
    subject into encoded words *between* words and leaves the space outside them, as folding
    whitespace; RFC 2047 readers drop whitespace between two encoded words, so `báo cáo` came
    back `báocáo`. `Header` puts the spaces inside the encoded words, where they survive. (For
    a long ASCII subject the standard folder may also fold right after `Subject:`, which
    parsers read back with a leading space; `Header` folds at the spaces between words.)
    """

    def _worded(self, name: str, value: Any) -> str | None:
        text = str(value)
        if name.lower() not in WORDED_HEADERS:
            return None
        charset = "us-ascii" if text.isascii() else "utf-8"
        encoded = Header(text, charset, maxlinelen=self.max_line_length or 78, header_name=name)
        return f"{name}: {encoded.encode(linesep=self.linesep)}{self.linesep}"

    def fold(self, name: str, value: Any) -> str:
        return self._worded(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        worded = self._worded(name, value)
        return worded.encode("ascii") if worded else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


def build_message(message: OutgoingMessage, sender: str, *, now: dt.datetime) -> EmailMessage:
    """The MIME message: UTF-8 text and HTML alternatives, headers encoded by `MAIL_POLICY`.

    Send it as `mime.as_bytes()` (aiosmtplib's `send_message` would flatten it again with
    the standard policy and lose the spaces of the subject).
    """
    mime = EmailMessage(policy=MAIL_POLICY)
    mime["From"] = sender
    mime["To"] = message.email
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.format_datetime(now)
    mime["Message-ID"] = message.message_id
    mime["Content-Language"] = message.language
    # RFC 3834: tells auto-responders not to answer an automatic message
    mime["Auto-Submitted"] = "auto-generated"
    mime["X-Chidao-Directive"] = ", ".join(sorted({r.directive for r in message.rows}))
    mime.set_content(message.text, charset="utf-8", cte="quoted-printable")
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}"


def _permanent(error: BaseException) -> bool:
    """A refusal that retrying cannot cure: every recipient refused, or the content refused."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPDataError):
        return error.code >= 500
    return False


def _write_eml(folder: Path, message: OutgoingMessage, mime: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = message.message_id.strip("<>").split("@")[0]
    path = folder / f"{name}.eml"
    path.write_bytes(mime.as_bytes())
    return path


async def deliver_pending(
    outbox: Outbox,
    config: SmtpConfig,
    *,
    now: dt.datetime,
    max_attempts: int = 5,
    directive: str | None = None,
    faults: Faults = None,
) -> list[Delivery]:
    """Try every pending message once; the outcomes that are final (sent, or failed for good).

    With `directive`, only the messages that include a notice of that directive are tried
    (a digest goes whole, with its other directives' notices). A message still pending after
    a failed attempt is not reported: it is tried again on the next call. `faults` is the
    crash tests' hook (`ledger.transaction.Faults`): `deliver.claimed` (attempt counted,
    nothing sent), `deliver.accepted` (the server took the message, the outbox does not know
    yet: the one point where a crash sends it again, under the same Message-ID) and
    `deliver.marked` (marked sent, not yet in the ledger).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    messages = plan_messages(outbox.pending())
    if directive is not None:
        messages = [m for m in messages if any(r.directive == directive for r in m.rows)]
    results: list[Delivery] = []
    client: aiosmtplib.SMTP | None = None
    unreachable: str | None = None  # once the server cannot be reached, the rest fail fast
    try:
        for message in messages:
            if not outbox.claim(message.rows, message.message_id, now=now):
                continue  # another sender took it since we read the outbox
            reach(faults, "deliver.claimed")
            keys = [r.key for r in message.rows]
            if not message.email:
                outbox.mark_attempt_failed(keys, NO_ADDRESS, now=now, final=True)
                results.extend(deliveries_of(message.rows, ok=False, message_id=message.message_id,
                                             error=NO_ADDRESS))
                continue
            mime = build_message(message, config.sender, now=now)
            if config.dry_run_dir is not None:
                _write_eml(config.dry_run_dir, message, mime)
                outbox.mark_sent(keys, now=now)
                results.extend(deliveries_of(message.rows, ok=True, message_id=message.message_id,
                                             error=None))
                continue
            error, permanent = unreachable, False
            if error is None:
                connecting = client is None
                try:
                    if client is None:
                        client = aiosmtplib.SMTP(**config.smtp_kwargs())
                        await client.connect()
                    connecting = False
                    await client.sendmail(config.sender, [message.email], mime.as_bytes())
                except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
                    error, permanent = _describe(e), _permanent(e)
                    if connecting:
                        unreachable = f"{config.host}:{config.port} unreachable: {error}"
                        error = unreachable
                    if not permanent and client is not None:
                        client.close()  # a broken session: the next message reconnects
                        client = None
                else:
                    reach(faults, "deliver.accepted")
                    outbox.mark_sent(keys, now=now)
                    reach(faults, "deliver.marked")
                    results.extend(deliveries_of(message.rows, ok=True,
                                                 message_id=message.message_id, error=None))
                    continue
            attempts = max(r.attempts for r in message.rows) + 1
            final = permanent or attempts >= max_attempts
            outbox.mark_attempt_failed(keys, error, now=now, final=final)
            if final:
                results.extend(deliveries_of(message.rows, ok=False, message_id=message.message_id,
                                             error=error))
    finally:
        if client is not None:
            try:
                await client.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()
    return results
