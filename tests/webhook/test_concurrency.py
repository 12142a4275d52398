"""50 concurrent calls over real HTTP (uvicorn on loopback), duplicates and conflicts mixed in:
the ledger ends with exactly the events it should, its chain intact. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine

from chidao.webhook import SecretStore, create_app
from ledger.db import ensure_schema, make_engine
from ledger.verify import verify
from tests.lifecycle.helpers import resolved
from tests.pg import throwaway_database
from tests.webhook.concurrency_helpers import serving
from tests.webhook.conftest import DIRECTIVE, Clock, Signer, Wakes, dumps, event_counts, issue_2810

D = f"/v1/directives/{DIRECTIVE}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/ledger.db")
        ensure_schema(engine)
        issue_2810(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("chidao_webhook_test") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        issue_2810(engine)
        yield engine
        engine.dispose()


async def fire(base: str, secrets: dict[str, str]) -> list[tuple[str, str, str, int]]:
    """The mixed burst; returns (kind, agency, webhook-id, status) per call."""
    agencies = [a.id for a in resolved().tracked]
    rng = random.Random(2810)
    planned: list[tuple[str, str, str, str, bytes]] = []  # kind, agency, id, path, body
    for agency in agencies:  # 16 reports
        body = dumps({"text": f"Báo cáo năm 2023 của {agency}."})
        planned.append(
            ("report", agency, f"r-{agency}", f"{D}/agencies/{agency}/cycles/2023/report", body)
        )
    planned += [("report", *p[1:]) for p in rng.sample(planned[:16], 10)]  # 10 exact repeats
    for agency in agencies[:8]:  # 8 conflicting second reports under their own ids
        body = dumps({"text": f"Báo cáo khác của {agency}."})
        planned.append(
            ("report", agency, f"r2-{agency}", f"{D}/agencies/{agency}/cycles/2023/report", body)
        )
    for agency in agencies[8:]:  # 8 acknowledgements, 4 of them repeated
        planned.append(("ack", agency, f"a-{agency}", f"{D}/agencies/{agency}/acknowledge", b""))
    planned += [("ack", *p[1:]) for p in planned[-4:]]
    for agency in agencies[12:16]:  # 4 items done
        planned.append(
            ("item", agency, f"i-{agency}", f"{D}/agencies/{agency}/items/4a/done", b"{}")
        )
    assert len(planned) == 50
    rng.shuffle(planned)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        signer = Signer(client, secrets, {})

        async def one(
            kind: str, agency: str, msg_id: str, path: str, body: bytes
        ) -> tuple[str, str, str, int]:
            headers = signer.headers(agency, body, path=path, idempotency_key=msg_id, hmac=True)
            r = await client.post(path, content=body, headers=headers)
            assert r.status_code < 500, r.text
            return kind, agency, msg_id, r.status_code

        return await asyncio.gather(*(one(*p) for p in planned))


def test_fifty_concurrent_calls_leave_exactly_the_right_events(ledger: Engine) -> None:
    agencies = [a.id for a in resolved().tracked]
    store = SecretStore(ledger, Fernet.generate_key())
    secrets = {a: store.generate(a) for a in agencies}
    wakes = Wakes()
    app = create_app(engine=ledger, secrets=store, waker=wakes, clock=Clock())
    with serving(app) as base:
        results = asyncio.run(fire(base, secrets))

    assert event_counts(ledger) == {
        "DirectiveIssued": 1,
        "CycleOpened": 1,
        "ReportSubmitted": 16,
        "Acknowledged": 8,
        "ItemCompleted": 4,
    }
    assert verify(ledger) == []
    by_id: dict[str, set[int]] = {}
    for _kind, _agency, msg_id, status in results:
        by_id.setdefault(msg_id, set()).add(status)
    assert all(len(statuses) == 1 for statuses in by_id.values()), (
        by_id
    )  # a repeat answers as the first
    for agency in agencies[:8]:  # of two different reports, exactly one won; the other got 409
        assert sorted([*by_id[f"r-{agency}"], *by_id[f"r2-{agency}"]]) == [201, 409]
    statuses = Counter(status for *_rest, status in results)
    assert set(statuses) <= {201, 409}
    assert wakes.seen and set(wakes.seen) == {DIRECTIVE}
