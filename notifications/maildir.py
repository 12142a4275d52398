"""The embedded mail room: an SMTP server on loopback that keeps every message in a Maildir.

When no SMTP server is configured (no `CHIDAO_SMTP_*` setting), `chidao up` runs this one
(`python -m notifications.maildir --dir DIR --port P`) so that mail arrives out of the box: it
stands for the agencies' mailboxes on a single machine. It accepts every message for every
recipient from loopback and stores it, unchanged but for aiosmtpd's `X-Peer`, `X-MailFrom` and
`X-RcptTo` headers, in a Maildir (the folder is made mode 0700: the messages hold working
links). The webhook's mail-room page reads them back with `read_messages`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.policy
import email.utils
import mailbox
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from notifications.errors import NotificationError

HOST = "127.0.0.1"


class MailroomError(NotificationError):
    """The mail room's folder cannot be made or read."""


def open_maildir(path: Path, *, create: bool = True) -> mailbox.Maildir:
    """The Maildir at `path`; created (mode 0700, and its parent's missing folders) if asked."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        # mailbox.Maildir makes these only when the folder itself is new
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(mode=0o700, exist_ok=True)
    elif not path.is_dir():
        raise MailroomError(f"no mail room at {path}")
    try:
        return mailbox.Maildir(path, factory=None, create=create)
    except OSError as e:
        raise MailroomError(f"cannot open the mail room at {path}: {e}") from e


@dataclass(frozen=True)
class StoredMail:
    """One message of the mail room, as a page shows it."""

    key: str
    subject: str
    sender: str
    to: str
    date: dt.datetime | None
    message_id: str
    text: str
    html: str


def _parse(key: str, raw: bytes) -> StoredMail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    try:
        date = email.utils.parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError):
        date = None
    return StoredMail(
        key=key,
        subject=str(message.get("Subject", "")),
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        date=date,
        message_id=str(message.get("Message-ID", "")),
        text=text_part.get_content() if isinstance(text_part, EmailMessage) else "",
        html=html_part.get_content() if isinstance(html_part, EmailMessage) else "",
    )


def read_messages(path: Path) -> list[StoredMail]:
    """Every message in the mail room, newest first (by Date, then by key)."""
    box = open_maildir(path, create=False)
    found = []
    for key in box.keys():
        try:
            with box.get_file(key) as handle:
                found.append(_parse(key, handle.read()))
        except (OSError, KeyError):  # taken away while we read: not shown
            continue
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(found, key=lambda m: (m.date or epoch, m.key), reverse=True)


def read_message(path: Path, key: str) -> StoredMail | None:
    """One message by its Maildir key, or None."""
    box = open_maildir(path, create=False)
    try:
        with box.get_file(key) as handle:
            return _parse(key, handle.read())
    except (KeyError, OSError):
        return None


class MailroomServer:
    """aiosmtpd's `Mailbox` handler on loopback, in a thread of its own (`start`, `stop`)."""

    def __init__(self, folder: Path, port: int, host: str = HOST) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        open_maildir(folder)  # made 0700 before the handler's own (0700) subfolders
        self.folder = folder
        # SMTPUTF8 on: Vietnamese addresses and headers pass as they are.
        self._controller = Controller(
            Mailbox(folder), hostname=host, port=port, enable_SMTPUTF8=True
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> MailroomServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notifications.maildir",
        description="The embedded mail room: SMTP on loopback into a Maildir.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="the Maildir (made mode 0700)")
    parser.add_argument("--port", type=int, required=True, help="the SMTP port on 127.0.0.1")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = MailroomServer(args.dir, args.port).start()
    print(f"mail room: SMTP on {HOST}:{server.port}, messages in {args.dir}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
