"""Fixtures of the notification tests: a real SMTP server on loopback, a ledger, the directives."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine

from definitions.calendar import TIMEZONE, default_calendar
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from ledger.db import ensure_schema, make_engine, sqlite_url_for
from lifecycle import DirectiveState, apply, decide, due_actions
from lifecycle.commands import Issue
from lifecycle.planner import Action
from notifications.mailer import SmtpConfig
from notifications.outbox import Outbox

D2810 = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"
D5185 = DIRECTIVES_DIR / "qn-5185-ubnd-kgvx-2021.yaml"
ANSWER_URL = "http://127.0.0.1:8765"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps what it receives, parsed with the default policy."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        # When set, the message after this many is refused and the server shuts down: an
        # outage in the middle of a run, at a moment the client knows it was not delivered.
        self.outage_after: int | None = None
        self.on_outage: Any = None

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.outage_after is not None and len(self.raw) >= self.outage_after:
            self.outage_after = None
            self.on_outage()
            return "421 4.3.2 Service shutting down"
        content = envelope.content
        self.raw.append(content if isinstance(content, bytes) else content.encode())
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in self.raw
        ]


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on its port."""

    def __init__(self, port: int, **options: Any) -> None:
        self.port = port
        self.inbox = Inbox()
        self.options = options
        self.controller: Controller | None = None
        self.stopping: threading.Thread | None = None

    def outage_after(self, count: int) -> None:
        """Refuse the message after `count` and stop, from another thread (as a crash would)."""
        def stop_soon() -> None:
            self.stopping = threading.Thread(target=self.stop)
            self.stopping.start()

        self.inbox.outage_after = count
        self.inbox.on_outage = stop_soon

    def start(self) -> None:
        if self.stopping is not None:
            self.stopping.join()
            self.stopping = None
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def config(self, **overrides: Any) -> SmtpConfig:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "timeout_seconds": 2.0,
                                  "sender": "chidao@ubnd.quangngai.example"}
        values.update(overrides)
        return SmtpConfig(**values)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


class Authenticator:
    def __call__(self, server: SMTPServer, session: Session, envelope: Envelope,
                 mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login, auth_data.password) == (b"chidao", b"mat-khau")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_auth() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), authenticator=Authenticator(), auth_required=True,
                        auth_require_tls=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[Engine]:
    engine = make_engine(sqlite_url_for(tmp_path / "home"))
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(engine)


def resolved(path: Any = D2810) -> ResolvedDirective:
    directory = load_directory()
    return resolve(load_definition(path, directory), directory)


@pytest.fixture(scope="session")
def r2810() -> ResolvedDirective:
    return resolved(D2810)


@pytest.fixture(scope="session")
def r5185() -> ResolvedDirective:
    return resolved(D5185)


def issued_at(resolved: ResolvedDirective) -> dt.datetime:
    return dt.datetime.combine(resolved.definition.issued_on, dt.time(8), tzinfo=TIMEZONE)


def issued_state(resolved: ResolvedDirective, at: dt.datetime | None = None) -> DirectiveState:
    state = DirectiveState()
    command = Issue(actor="operator", resolved=resolved.model_dump(mode="json"))
    for event in decide(state, command, at or issued_at(resolved)):
        apply(state, event)
    return state


def due(state: DirectiveState, now: dt.datetime, kind: str | None = None) -> list[Action]:
    return [a for a in due_actions(state, now, default_calendar()) if kind is None or a.kind == kind]
