"""A transient conflict is not a refusal: a call losing to a racing writer on PostgreSQL is
decided again inside the service; only when another writer wins every bounded retry is the
answer 503 `busy` with `Retry-After`, with nothing of the call written. A lifecycle refusal
stays a 409 with its reason code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from chidao.webhook import SecretStore, create_app
from chidao.webhook.service import CONFLICT_RETRIES
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from ledger.store import EventStore
from ledger.tables import webhook_requests
from lifecycle.commands import CompleteItem
from tests.lifecycle.helpers import at, resolved
from tests.pg import throwaway_database
from tests.webhook.conftest import DIRECTIVE, Clock, Signer, event_counts, issue_2810, register_keys

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
D = f"/v1/directives/{DIRECTIVE}"


@pytest.fixture
def pg() -> Iterator[Engine]:
    with throwaway_database("chidao_busy_test") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        issue_2810(engine)
        yield engine
        engine.dispose()


class Racer:
    """Another writer (its own connection) that records an event on the directive just before
    the service appends, `times` times: a real lost race on the real database each time."""

    def __init__(self, engine: Engine, times: int) -> None:
        self.other = Directives(EventStore(engine))
        self.times = times
        self.won = 0
        self.items = iter(
            (a.id, i.id) for a in resolved().tracked for i in a.items if a.id != "ubnd-ba-to"
        )

    def before_append(self) -> None:
        if self.won >= self.times:
            return
        agency, item = next(self.items)
        self.other.execute(
            DIRECTIVE,
            CompleteItem(actor=agency, agency=agency, item=item),
            at(2023, 11, 1),
            key=f"racer-{agency}-{item}",
        )
        self.won += 1


def racing(app: Any, racer: Racer) -> None:
    store = app.state.service.directives.store
    original = store.append_on

    def append_on(*args: Any, **kwargs: Any) -> Any:
        racer.before_append()
        return original(*args, **kwargs)

    store.append_on = append_on


async def call(app: Any, keys: dict[str, Ed25519PrivateKey]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        signer = Signer(c, {}, keys)
        return await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/4a/done", {"note": "x"})


async def test_a_few_lost_races_are_retried_inside_and_succeed(pg: Engine) -> None:
    keys = {"ubnd-ba-to": Ed25519PrivateKey.generate()}
    register_keys(pg, keys)
    app = create_app(engine=pg, secrets=SecretStore(pg, Fernet.generate_key()), clock=Clock())
    racer = Racer(pg, times=3)
    racing(app, racer)
    r = await call(app, keys)
    assert r.status_code == 201, r.text
    assert racer.won == 3
    assert event_counts(pg)["ItemCompleted"] == 4  # three by the racer, one by the call


async def test_a_writer_winning_every_retry_gives_503_busy_with_retry_after(pg: Engine) -> None:
    keys = {"ubnd-ba-to": Ed25519PrivateKey.generate()}
    register_keys(pg, keys)
    app = create_app(engine=pg, secrets=SecretStore(pg, Fernet.generate_key()), clock=Clock())
    racer = Racer(pg, times=10_000)
    racing(app, racer)
    r = await call(app, keys)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "busy" and int(r.headers["retry-after"]) >= 1
    assert racer.won == CONFLICT_RETRIES + 1
    counts = event_counts(pg)
    assert counts["ItemCompleted"] == racer.won  # none of them the call's
    with pg.connect() as conn:
        claims = conn.execute(
            select(webhook_requests).where(webhook_requests.c.status_code != -1)
        ).all()
    assert claims == []  # rolled back: the agency may resend with the same key
    # once the other writer stops, the same call (signed anew) goes through
    racer.times = racer.won
    assert (await call(app, keys)).status_code == 201


async def test_a_lifecycle_refusal_is_409_with_its_reason_code(pg: Engine) -> None:
    keys = {"ubnd-ba-to": Ed25519PrivateKey.generate()}
    register_keys(pg, keys)
    app = create_app(engine=pg, secrets=SecretStore(pg, Fernet.generate_key()), clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        signer = Signer(c, {}, keys)
        r = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2024/report", {"text": "x"})
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert "not open yet" in r.json()["detail"]


async def test_substitutions_and_replays_are_refused_on_postgresql(pg: Engine) -> None:
    keys = {a: Ed25519PrivateKey.generate() for a in ("ubnd-ba-to", "so-gddt")}
    register_keys(pg, keys)
    app = create_app(engine=pg, secrets=SecretStore(pg, Fernet.generate_key()), clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        signer = Signer(c, {}, keys)
        before = event_counts(pg)
        body = b'{"note":"same body"}'
        item = signer.headers("ubnd-ba-to", body, path=f"{D}/agencies/ubnd-ba-to/items/4a/done")
        r = await c.post(f"{D}/agencies/ubnd-ba-to/items/4b/done", content=body, headers=item)
        assert r.status_code == 401
        read = signer.headers("so-gddt", b"", method="GET", path=f"{D}/status")
        assert (await c.get(f"{D}/status", headers=read)).status_code == 200
        r = await c.post(f"{D}/cycles/2023/reports/ubnd-ba-to/accept", headers=read)
        assert r.status_code == 401
        assert event_counts(pg) == before
        ok = await c.post(f"{D}/agencies/ubnd-ba-to/items/4a/done", content=body, headers=item)
        assert ok.status_code == 201
        replay = await c.post(f"{D}/agencies/ubnd-ba-to/items/4a/done", content=body, headers=item)
        assert replay.status_code == 409 and replay.json()["error"] == "nonce_reused"
        assert event_counts(pg)["ItemCompleted"] == 1
