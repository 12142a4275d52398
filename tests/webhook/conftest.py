"""Fixtures of the webhook tests: a ledger with 2810 issued, agency keys, the app, a signer.

Requests are signed (RFC 9421) with the `http-message-signatures` package from PyPI through
`ledger.signatures.sign_headers`, with an Ed25519 key registered for each agency, or with
the agency's HMAC secret when asked; `test_peer.py` signs with an npm implementation too.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from chidao.webhook import SecretStore, create_app
from chidao.webhook.auth import secret_key_bytes
from ledger.agency_keys import AgencyKeys
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from ledger.signatures import ed25519_kid, sign_headers
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
def private_keys() -> dict[str, Ed25519PrivateKey]:
    """Each agency's own Ed25519 key (the server only ever sees the public half)."""
    return {agency: Ed25519PrivateKey.generate() for agency in AGENCIES}


def register_keys(engine: Engine, keys: dict[str, Ed25519PrivateKey]) -> None:
    registry = AgencyKeys(EventStore(engine))
    for agency, key in keys.items():
        registry.register(
            agency, key.public_key(), at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), actor="operator"
        )


@pytest.fixture(scope="session")
def template_db(
    tmp_path_factory: pytest.TempPathFactory, private_keys: dict[str, Ed25519PrivateKey]
) -> Path:
    """One migrated ledger with 2810 issued and every agency's public key registered; each
    test copies the file (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    issue_2810(engine)
    register_keys(engine, private_keys)
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
    """Sends signed requests as an agency, like an agency's own system would.

    By default with the agency's registered Ed25519 key; `hmac=True` signs with its shared
    secret instead, `key=` with any other private key.
    """

    client: httpx.AsyncClient
    secrets: dict[str, str]
    keys: dict[str, Ed25519PrivateKey]

    def headers(
        self,
        agency: str,
        body: bytes,
        *,
        method: str = "POST",
        path: str = "/",
        query: str = "",
        idempotency_key: str | None = None,
        nonce: str | None = None,
        created: dt.datetime | None = None,
        hmac: bool = False,
        secret: str | None = None,
        key: Ed25519PrivateKey | None = None,
        keyid: str | None = None,
    ) -> dict[str, str]:
        if hmac or secret:
            signing: object = secret_key_bytes(secret or self.secrets[agency])
            alg, kid = "hmac-sha256", "hmac"
        else:
            private = key or self.keys[agency]
            signing, alg, kid = private, "ed25519", ed25519_kid(private.public_key())
        return sign_headers(
            method,
            path,
            query,
            body,
            keyid=keyid or f"{agency}:{kid}",
            key=signing,
            alg=alg,
            idempotency_key=idempotency_key,
            nonce=nonce,
            created=created,
        )

    async def post(
        self, agency: str, path: str, payload: Any = None, *, raw: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        body = raw if raw is not None else (b"" if payload is None else dumps(payload))
        bare, _, query = path.partition("?")
        headers = self.headers(agency, body, method="POST", path=bare, query=query, **kw)
        return await self.client.post(path, content=body, headers=headers)

    async def get(self, agency: str, path: str, **kw: Any) -> httpx.Response:
        bare, _, query = path.partition("?")
        headers = self.headers(agency, b"", method="GET", path=bare, query=query, **kw)
        return await self.client.get(path, headers=headers)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


@pytest.fixture
def signer(
    client: httpx.AsyncClient,
    agency_secrets: dict[str, str],
    private_keys: dict[str, Ed25519PrivateKey],
) -> Signer:
    return Signer(client, agency_secrets, private_keys)


def now_ts() -> int:
    return int(time.time())
