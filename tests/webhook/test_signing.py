"""Signatures bind the request (RFC 9421): the substitutions of issue 10 are refused, with
nothing written; a nonce is used once; a retry signed anew gets the first answer; keys can be
revoked; every Ed25519 answer verifies again offline, and an edited one does not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from ledger.agency_keys import AgencyKeys
from ledger.answers import check_answers
from ledger.signatures import ed25519_kid
from ledger.store import EventStore
from ledger.tables import events
from tests.webhook.conftest import DIRECTIVE, Signer, dumps, event_counts

pytestmark = pytest.mark.anyio

D = f"/v1/directives/{DIRECTIVE}"


def total(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def refused(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (401,)), response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_body_signed_for_item_4a_is_refused_at_item_4b(
    signer: Signer, client: httpx.AsyncClient, engine: Engine
) -> None:
    body = dumps({"note": "same body"})
    signed = signer.headers(
        "ubnd-ba-to", body, path=f"{D}/agencies/ubnd-ba-to/items/4a/done"
    )
    before = total(engine)
    for hmac in (False, True):
        signed = signer.headers(
            "ubnd-ba-to", body, path=f"{D}/agencies/ubnd-ba-to/items/4a/done", hmac=hmac
        )
        r = await client.post(f"{D}/agencies/ubnd-ba-to/items/4b/done", content=body, headers=signed)
        assert "wrong key, or the request was changed" in refused(r)["detail"]
    assert total(engine) == before
    # the same headers where they were meant to go are fine
    r = await client.post(f"{D}/agencies/ubnd-ba-to/items/4a/done", content=body, headers=signed)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("agency", "read", "write"),
    [
        ("ubnd-nghia-hanh", "/v1/agencies/ubnd-nghia-hanh/inbox", f"{D}/agencies/ubnd-nghia-hanh/acknowledge"),
        ("so-gddt", f"{D}/status", f"{D}/cycles/2023/reports/ubnd-ba-to/accept"),
        ("ubnd-tinh", "/v1/agencies/ubnd-tinh/inbox", f"{D}/cycles/2023/extensions/ubnd-son-tinh/grant"),
    ],
)
async def test_a_signed_get_replayed_as_a_post_is_refused(
    signer: Signer,
    client: httpx.AsyncClient,
    engine: Engine,
    agency: str,
    read: str,
    write: str,
    private_keys: dict[str, Any],
) -> None:
    if agency not in private_keys:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        AgencyKeys(EventStore(engine)).register(
            agency, key.public_key(), at=dt.datetime.now(dt.UTC), actor="operator"
        )
        signer.keys = {**signer.keys, agency: key}
    # the set-up: something to accept and an extension to grant
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", {"text": "x"})
    await signer.post(
        "ubnd-ly-son",
        f"{D}/agencies/ubnd-ly-son/cycles/2023/extension",
        {"reason": "x", "proposed_due": "2023-12-10"},
    )
    signed = signer.headers(agency, b"", method="GET", path=read)
    assert (await client.get(read, headers=signed)).status_code == 200
    before = total(engine)
    for body in (b"", b"{}"):
        r = await client.post(write, content=body, headers=signed)
        refused(r)
    assert total(engine) == before


async def test_query_and_method_are_bound(signer: Signer, client: httpx.AsyncClient) -> None:
    path = "/v1/agencies/ubnd-ba-to/inbox"
    signed = signer.headers("ubnd-ba-to", b"", method="GET", path=path, query="lang=vi")
    assert (await client.get(f"{path}?lang=vi", headers=signed)).status_code == 200
    refused(await client.get(f"{path}?lang=en", headers=signed))
    refused(await client.get(path, headers=signed))
    assert (await client.head(f"{path}?lang=vi", headers=signed)).status_code in (401, 405)


async def test_a_byte_identical_replay_is_refused_and_a_new_signature_gets_the_first_answer(
    signer: Signer, client: httpx.AsyncClient, engine: Engine
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    body = dumps({"text": "Báo cáo năm 2023."})
    signed = signer.headers("ubnd-ba-to", body, path=path, idempotency_key="report-2023")
    first = await client.post(path, content=body, headers=signed)
    assert first.status_code == 201, first.text
    after = total(engine)
    for _ in range(3):  # the very same bytes again: a replay
        r = await client.post(path, content=body, headers=signed)
        assert refused(r, 409)["error"] == "nonce_reused"
    # a retry after a timeout: signed anew (new nonce), the same idempotency-key
    again = signer.headers("ubnd-ba-to", body, path=path, idempotency_key="report-2023")
    retry = await client.post(path, content=body, headers=again)
    assert retry.status_code == 201 and retry.headers["x-chidao-replayed"] == "true"
    assert retry.json() == first.json()
    assert total(engine) == after and event_counts(engine)["ReportSubmitted"] == 1
    # a nonce is the agency's, whatever the request: reusing it elsewhere is a replay too
    nonce = signed["signature-input"].split('nonce="')[1].split('"')[0]
    other = signer.headers(
        "ubnd-ba-to", b"", path=f"{D}/agencies/ubnd-ba-to/acknowledge", nonce=nonce
    )
    r = await client.post(f"{D}/agencies/ubnd-ba-to/acknowledge", content=b"", headers=other)
    assert refused(r, 409)["error"] == "nonce_reused"
    assert total(engine) == after


async def test_a_post_without_nonce_or_idempotency_key_is_refused(
    signer: Signer, client: httpx.AsyncClient, engine: Engine
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/acknowledge"
    before = total(engine)
    # signed as a GET is (no nonce, no digest, no idempotency-key), sent as a POST
    signed = signer.headers("ubnd-ba-to", b"", method="GET", path=path)
    assert "nonce" in refused(await client.post(path, headers=signed))["detail"]
    signed["idempotency-key"] = "k"
    refused(await client.post(path, headers=signed))
    assert total(engine) == before


async def test_a_signed_get_may_be_repeated_within_the_window_only(
    signer: Signer, client: httpx.AsyncClient
) -> None:
    path = "/v1/agencies/ubnd-ba-to/inbox"
    signed = signer.headers("ubnd-ba-to", b"", method="GET", path=path)
    first = await client.get(path, headers=signed)
    assert (await client.get(path, headers=signed)).json() == first.json()
    old = signer.headers(
        "ubnd-ba-to",
        b"",
        method="GET",
        path=path,
        created=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6),
    )
    assert "window" in refused(await client.get(path, headers=old))["detail"]


async def test_a_revoked_key_signs_nothing_new_and_earlier_answers_stay_valid(
    signer: Signer, engine: Engine, private_keys: dict[str, Any]
) -> None:
    assert (
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge")
    ).status_code == 201
    registry = AgencyKeys(EventStore(engine))
    kid = ed25519_kid(private_keys["ubnd-ba-to"].public_key())
    registry.revoke(
        f"ubnd-ba-to:{kid}", at=dt.datetime.now(dt.UTC), actor="operator", reason="lost laptop"
    )
    before = total(engine)
    r = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/4a/done")
    refused(r)
    assert total(engine) == before
    assert [e.type for e in EventStore(engine).read("agency-keys")][-1] == "AgencyKeyRevoked"
    report = check_answers(EventStore(engine))
    assert report.ok and report.agency_signed == 1


async def test_every_ed25519_answer_verifies_offline_and_an_edited_one_fails(
    signer: Signer, engine: Engine
) -> None:
    assert (
        await signer.post(
            "ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", {"text": "Hoa\u0300n tha\u0300nh"}
        )
    ).status_code == 201
    assert (await signer.post("so-gddt", f"{D}/cycles/2023/reports/ubnd-ba-to/accept")).status_code == 201
    assert (
        await signer.post("ubnd-ly-son", f"{D}/agencies/ubnd-ly-son/acknowledge", hmac=True)
    ).status_code == 201
    report = check_answers(EventStore(engine))
    assert report.ok, report.failures
    assert (report.agency_signed, report.hmac_signed, report.server_attested) == (2, 1, 1)
    store = EventStore(engine)
    report_event = next(e for e in store.read(DIRECTIVE) if e.type == "ReportSubmitted")

    def edit(**changes: Any) -> None:
        with engine.begin() as conn:
            conn.execute(update(events).where(events.c.position == report_event.position).values(**changes))

    # the payload edited in the database (as a writer without the agency's key would)
    edit(payload={**report_event.payload, "text": "Không làm gì."})
    failures = check_answers(store).failures
    assert len(failures) == 1 and "text differs" in failures[0] and "v" in failures[0]
    # the signed body edited too, to match: the signature no longer verifies
    proof = dict(report_event.payload["signed_request"])
    import base64

    proof["body"] = base64.b64encode(dumps({"text": "Không làm gì."})).decode()
    edit(payload={**report_event.payload, "text": "Không làm gì.", "signed_request": proof})
    assert "does not verify" in check_answers(store).failures[0]
    # moved to another agency
    edit(payload=report_event.payload, actor="ubnd-ly-son")
    assert check_answers(store).failures
    edit(actor="ubnd-ba-to")
    assert check_answers(store).ok


async def test_nonces_older_than_the_window_are_forgotten(signer: Signer, engine: Engine) -> None:
    from sqlalchemy import insert

    from ledger.tables import webhook_requests

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    with engine.begin() as conn:
        conn.execute(
            insert(webhook_requests).values(
                webhook_id="nonce:old", agency_id="ubnd-ba-to", body_sha256="0" * 64,
                status_code=-1, response={}, created_at=old,
            )
        )
    assert (await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge")).status_code == 201
    with engine.connect() as conn:
        ids = {r.webhook_id for r in conn.execute(select(webhook_requests))}
    assert "nonce:old" not in ids and any(i.startswith("nonce:") for i in ids)
