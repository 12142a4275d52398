"""Fixtures of the webhook tests: a ledger with 2810 issued, agency secrets, the app, a signer.

Requests are signed with the `standardwebhooks` package from PyPI, a client nobody here
wrote, so the tests check the app against the scheme and not against our own signing code.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from standardwebhooks.webhooks import Webhook

from chidao.webhook import SecretStore, create_app
from chidao.webhook.auth import sign
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from ledger.store import EventStore
from ledger.tables import events
from lifecycle.commands import Issue
from tests.lifecycle.helpers import at, resolved

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
AGENCIES = (
    "so-gddt",
    "so-ldtbxh",
    "hoi-khuyen-hoc-tinh",
    "ubnd-ba-to",
    "ubnd-ly-son",
    "ubnd-tinh",
    "so-y-te",
)


def issue_2810(engine: Engine) -> None:
    r = resolved()
    Directives(EventStore(engine)).execute(
        DIRECTIVE,
        Issue(actor="operator", resolved=r.model_dump(mode="json")),
        at(2023, 6, 20),
        key="issue-2810",
    )


def event_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.type, func.count()).group_by(events.c.type)).all()
    return {t: n for t, n in rows}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated ledger with 2810 issued; each test copies the file (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    issue_2810(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(template_db: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "ledger.db"
    shutil.copy(template_db, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def secrets(engine: Engine) -> SecretStore:
    return SecretStore(engine, Fernet.generate_key())


@pytest.fixture
def agency_secrets(secrets: SecretStore) -> dict[str, str]:
    return {agency: secrets.generate(agency) for agency in AGENCIES}


@dataclass
class Clock:
    """Business time the app sees; tests move it."""

    now: dt.datetime = field(default_factory=lambda: at(2023, 11, 1))

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Wakes:
    seen: list[str] = field(default_factory=list)

    async def __call__(self, directive: str) -> None:
        self.seen.append(directive)


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def app(
    engine: Engine, secrets: SecretStore, clock: Clock, wakes: Wakes, agency_secrets: dict[str, str]
) -> FastAPI:
    return create_app(
        engine=engine, secrets=secrets, waker=wakes, clock=clock, max_body_bytes=200_000
    )


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass
class Signer:
    """Sends signed requests as an agency, like an agency's own system would."""

    client: httpx.AsyncClient
    secrets: dict[str, str]

    def headers(
        self,
        agency: str,
        body: bytes,
        *,
        webhook_id: str | None = None,
        timestamp: dt.datetime | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        stamp = timestamp or dt.datetime.now(dt.UTC)
        key = secret or self.secrets[agency]
        try:
            signature = Webhook(key).sign(msg_id, stamp, body.decode())
        except UnicodeDecodeError:
            # standardwebhooks signs text only; a body that is not UTF-8 is signed as bytes.
            signature = sign(key, msg_id, int(stamp.timestamp()), body)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signature,
            "x-chidao-agency": agency,
            "content-type": "application/json",
        }

    async def post(
        self, agency: str, path: str, payload: Any = None, *, raw: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        body = raw if raw is not None else (b"" if payload is None else dumps(payload))
        return await self.client.post(path, content=body, headers=self.headers(agency, body, **kw))

    async def get(self, agency: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers(agency, b"", **kw))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


@pytest.fixture
def signer(client: httpx.AsyncClient, agency_secrets: dict[str, str]) -> Signer:
    return Signer(client, agency_secrets)


def now_ts() -> int:
    return int(time.time())
