"""A real SMTP server on loopback for the flow tests (aiosmtpd), which can be told to hold a message."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the server accepted; with `hold_at` set, the n-th message waits for `release`."""

    messages: list[EmailMessage] = field(default_factory=list)
    hold_at: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.seen += 1
            number = self.seen
        if self.hold_at is not None and number == self.hold_at:
            self.held.set()
            # the test kills the sender while this message waits; it is never accepted
            while not self.release.wait(0.05):
                pass
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def ids(self) -> list[str]:
        return sorted(str(m["Message-ID"]) for m in self.messages)


class SmtpServer:
    def __init__(self, inbox: Inbox, port: int | None = None) -> None:
        self.inbox = inbox
        self.port = port or free_port()
        self.controller = Controller(inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inbox.release.set()
        self.controller.stop()
