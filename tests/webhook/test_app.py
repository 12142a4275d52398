"""The webhook over ASGI: every endpoint, every error, requests signed with RFC 9421 (`http-message-signatures`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from chidao.webhook import SecretStore, create_app
from ledger.directives import Directives
from ledger.store import EventStore
from ledger.tables import events, webhook_requests
from lifecycle.commands import SYSTEM, PerformAction
from lifecycle.planner import Action
from tests.lifecycle.helpers import at
from tests.webhook.conftest import DIRECTIVE, Clock, Signer, Wakes, dumps, event_counts

pytestmark = pytest.mark.anyio

D = f"/v1/directives/{DIRECTIVE}"
REPORT = {
    "text": "Báo cáo kết quả thực hiện năm 2023.",
    "items": {"4a": "done"},
    "figures": {"lớp": "12"},
}


def total(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail", "fields"}
    if code:
        assert body["error"] == code
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# --- signatures ------------------------------------------------------------------------------


async def test_an_ed25519_signed_call_is_recorded_with_its_proof_and_wakes_the_flow(
    app: FastAPI, signer: Signer, engine: Engine, wakes: Wakes
) -> None:
    r = await signer.post(
        "ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge", idempotency_key="ack-1"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["actor"] == "ubnd-ba-to"
    assert [e["type"] for e in body["events"]] == ["Acknowledged"]
    assert event_counts(engine)["Acknowledged"] == 1
    stored = Directives(EventStore(engine)).events(DIRECTIVE)[-1]
    assert stored.actor == "ubnd-ba-to" and stored.idempotency_key == "wh:ubnd-ba-to:ack-1"
    assert stored.business_time == at(2023, 11, 1)
    proof = stored.payload["signed_request"]
    assert proof["alg"] == "ed25519" and proof["keyid"].startswith("ubnd-ba-to:")
    assert '"@method": POST' in proof["signature_base"]
    await app.state.wakeups.drain()
    assert wakes.seen == [DIRECTIVE]


async def test_an_hmac_signed_call_is_recorded(signer: Signer, engine: Engine) -> None:
    r = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge", hmac=True)
    assert r.status_code == 201, r.text
    stored = Directives(EventStore(engine)).events(DIRECTIVE)[-1]
    assert stored.payload["signed_request"]["alg"] == "hmac-sha256"


async def test_refused_signatures_are_401_and_record_nothing(
    signer: Signer, client: httpx.AsyncClient, engine: Engine, agency_secrets: dict[str, str]
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/acknowledge"
    before = total(engine)
    now = dt.datetime.now(dt.UTC)

    def signed(**kw: Any) -> dict[str, str]:
        return signer.headers("ubnd-ba-to", b"", path=path, **kw)

    cases = [
        signed(secret=agency_secrets["ubnd-ly-son"]),  # someone else's secret
        signed(key=signer.keys["ubnd-ly-son"]),  # someone else's key under ba-to's keyid
        signed(key=signer.keys["ubnd-ly-son"], keyid="ubnd-ba-to:hmac"),  # alg vs keyid
        signed(created=now - dt.timedelta(minutes=6)),  # too late
        signed(created=now + dt.timedelta(minutes=6)),  # too early
        signed(keyid="operator:hmac", hmac=True),
        signed(keyid="Not An Id"),
        signed(keyid="ubnd-son-tay:hmac", hmac=True),  # an agency with no secret at all
    ]
    for headers in cases:
        body = assert_error(await client.post(path, content=b"", headers=headers), 401, "unauthorized")
        assert "son-tay" not in body["detail"]
    # a body changed after signing
    headers = signer.headers("ubnd-ba-to", b"{}", path=path)
    assert_error(await client.post(path, content=b'{"x":1}', headers=headers), 401)
    # each signing header missing in turn
    for name in ("signature-input", "signature", "content-digest", "idempotency-key"):
        headers = signed()
        del headers[name]
        assert_error(await client.post(path, content=b"", headers=headers), 401)
    # garbage in the headers
    for name, value in (
        ("signature", "sig1=:AAAA:"),
        ("signature-input", "sig1=(); created=x"),
        ("signature-input", "not a dictionary ("),
        ("idempotency-key", "has space"),
    ):
        headers = signed()
        headers[name] = value
        assert_error(await client.post(path, content=b"", headers=headers), 401)
    # reads are signed too
    assert_error(await client.get("/v1/agencies/ubnd-ba-to/inbox"), 401)
    assert total(engine) == before


async def test_open_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/directives/{directive}/agencies/{agency}/cycles/{cycle}/report" in spec["paths"]
    codes = set(spec["components"]["schemas"]["ErrorCode"]["enum"])
    assert {"busy", "nonce_reused", "idempotency_key_reused", "conflict", "unauthorized"} <= codes
    report = spec["paths"]["/v1/directives/{directive}/agencies/{agency}/cycles/{cycle}/report"]
    assert "Retry-After" in report["post"]["responses"]["503"]["headers"]
    assert any(p["name"] == "Idempotency-Key" for p in report["post"]["parameters"])
    assert (await client.get("/docs")).status_code == 200
    assert_error(await client.get("/nowhere"), 404, "not_found")


async def test_readyz_is_503_when_the_ledger_does_not_answer(
    engine: Engine, secrets: SecretStore, tmp_path: Any
) -> None:
    from sqlalchemy import create_engine

    dead = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    app = create_app(engine=dead, secrets=secrets)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).status_code == 200
        assert_error(await c.get("/readyz"), 503, "unavailable")
    dead.dispose()


# --- an agency's own work ----------------------------------------------------------------------


async def test_acknowledge_twice_records_once(signer: Signer, engine: Engine) -> None:
    assert (
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge", {})
    ).status_code == 201
    again = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge")
    assert again.status_code == 200 and again.json()["events"] == []
    assert event_counts(engine)["Acknowledged"] == 1


async def test_item_done_with_a_note(signer: Signer, engine: Engine) -> None:
    r = await signer.post(
        "ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/4a/done", {"note": "Đã ban hành kế hoạch."}
    )
    assert r.status_code == 201, r.text
    state = Directives(EventStore(engine)).state(DIRECTIVE)
    assert state.agencies["ubnd-ba-to"].item_notes["4a"] == "Đã ban hành kế hoạch."
    assert (
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/4b/done")
    ).status_code == 201
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/1a/done"), 404
    )
    assert "1a" in body["detail"]


async def test_report_then_a_second_report_is_a_409_with_the_lifecycle_reason(
    signer: Signer, engine: Engine
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    payload = {**REPORT, "attachment": {"url": "https://ba-to.example/bc.pdf", "sha256": "a" * 64}}
    r = await signer.post("ubnd-ba-to", path, payload)
    assert r.status_code == 201, r.text
    stored = Directives(EventStore(engine)).events(DIRECTIVE)[-1]
    assert stored.type == "ReportSubmitted" and stored.payload["attachment"]["sha256"] == "a" * 64
    before = total(engine)
    body = assert_error(await signer.post("ubnd-ba-to", path, REPORT), 409, "conflict")
    assert "already submitted" in body["detail"]
    assert total(engine) == before


async def test_unknown_directive_cycle_or_item_is_404(signer: Signer, engine: Engine) -> None:
    before = total(engine)
    assert_error(
        await signer.post(
            "ubnd-ba-to", "/v1/directives/qn-1-x-2020/agencies/ubnd-ba-to/acknowledge"
        ),
        404,
    )
    assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2099/report", REPORT), 404
    )
    bad_item = {**REPORT, "items": {"9z": "done"}}
    assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", bad_item),
        404,
    )
    # an agency with a secret but no work on the directive
    assert_error(await signer.post("so-y-te", f"{D}/agencies/so-y-te/acknowledge"), 404)
    # the consolidator reviewing an agency the directive does not track
    assert_error(await signer.post("so-gddt", f"{D}/cycles/2023/reports/so-y-te/accept"), 404)
    assert total(engine) == before


async def test_a_cycle_not_open_or_closed_is_409(
    signer: Signer, engine: Engine, clock: Clock
) -> None:
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2024/report", REPORT), 409
    )
    assert "not open yet" in body["detail"]
    action = Action(
        kind="close_cycle",
        key="close-2023",
        directive=DIRECTIVE,
        due_at=at(2023, 12, 20),
        cycle="2023",
    )
    Directives(EventStore(engine)).execute(
        DIRECTIVE, PerformAction(actor=SYSTEM, action=action), at(2023, 12, 20), key="close-2023"
    )
    before = total(engine)
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT), 409
    )
    assert "closed" in body["detail"]
    assert total(engine) == before


async def test_another_agencys_work_is_403(signer: Signer, engine: Engine) -> None:
    before = total(engine)
    for path, payload in (
        (f"{D}/agencies/ubnd-ba-to/acknowledge", None),
        (f"{D}/agencies/ubnd-ba-to/items/4a/done", {"note": ""}),
        (f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT),
        (
            f"{D}/agencies/ubnd-ba-to/cycles/2023/extension",
            {"reason": "x", "proposed_due": "2023-12-10"},
        ),
    ):
        body = assert_error(await signer.post("ubnd-ly-son", path, payload), 403, "forbidden")
        assert "ubnd-ly-son" in body["detail"]
    r = await signer.get("ubnd-ly-son", "/v1/agencies/ubnd-ba-to/inbox")
    assert_error(r, 403)
    assert total(engine) == before


async def test_extension_requested_granted_by_the_issuer_only(
    signer: Signer, engine: Engine
) -> None:
    ask = {"reason": "Chờ số liệu của các xã.", "proposed_due": "2023-12-10"}
    assert (
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/extension", ask)
    ).status_code == 201
    again = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/extension", ask)
    assert "awaits a decision" in assert_error(again, 409)["detail"]
    grant = f"{D}/cycles/2023/extensions/ubnd-ba-to/grant"
    assert_error(await signer.post("so-gddt", grant), 403, "forbidden")
    assert_error(await signer.post("ubnd-ba-to", grant), 403, "forbidden")
    r = await signer.post("ubnd-tinh", grant)
    assert r.status_code == 201, r.text
    state = Directives(EventStore(engine)).state(DIRECTIVE)
    assert state.cycles["2023"].works["ubnd-ba-to"].due == dt.date(2023, 12, 10)
    assert_error(await signer.post("ubnd-tinh", grant), 409)  # nothing pending any more


async def test_extension_refused_needs_a_reason_and_the_issuer(
    signer: Signer, engine: Engine
) -> None:
    ask = {"reason": "Thiếu nhân lực.", "proposed_due": "2023-12-20"}
    assert (
        await signer.post("ubnd-ly-son", f"{D}/agencies/ubnd-ly-son/cycles/2023/extension", ask)
    ).status_code == 201
    refuse = f"{D}/cycles/2023/extensions/ubnd-ly-son/refuse"
    assert_error(await signer.post("ubnd-tinh", refuse, {}), 422)
    assert_error(await signer.post("so-gddt", refuse, {"reason": "Không."}), 403)
    r = await signer.post("ubnd-tinh", refuse, {"reason": "Thời hạn đã đủ."})
    assert r.status_code == 201 and r.json()["events"][0]["type"] == "ExtensionRefused"
    bad = {"reason": "x", "proposed_due": "2023-11-01"}
    assert (
        "not after"
        in assert_error(
            await signer.post(
                "ubnd-ly-son", f"{D}/agencies/ubnd-ly-son/cycles/2023/extension", bad
            ),
            409,
        )["detail"]
    )


async def test_accept_and_return_are_for_the_consolidator(signer: Signer, engine: Engine) -> None:
    accept = f"{D}/cycles/2023/reports/ubnd-ba-to/accept"
    ret = f"{D}/cycles/2023/reports/ubnd-ba-to/return"
    assert "never submitted" in assert_error(await signer.post("so-gddt", accept), 409)["detail"]
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT)
    assert_error(await signer.post("so-ldtbxh", accept), 403)
    assert_error(await signer.post("ubnd-ba-to", accept), 403)
    assert_error(await signer.post("so-gddt", ret, {}), 422)
    assert_error(await signer.post("so-gddt", ret, {"reason": ""}), 422)
    r = await signer.post("so-gddt", ret, {"reason": "Thiếu số liệu lớp học."})
    assert r.status_code == 201
    inbox = (await signer.get("ubnd-ba-to", "/v1/agencies/ubnd-ba-to/inbox")).json()
    assert "entries" in inbox, inbox
    report = [e for e in inbox["entries"] if e["kind"] == "report"]
    assert report and "Thiếu số liệu" in report[0]["detail"]
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT)
    r = await signer.post("so-gddt", accept, {})
    assert r.status_code == 201 and r.json()["events"][0]["type"] == "ReportAccepted"
    assert event_counts(engine)["ReportSubmitted"] == 2


async def test_consolidated_report_by_the_consolidator_only(signer: Signer, engine: Engine) -> None:
    path = f"{D}/cycles/2023/consolidated"
    payload = {"text": "Báo cáo tổng hợp năm 2023."}
    assert_error(await signer.post("so-ldtbxh", path, payload), 403)
    assert_error(await signer.post("ubnd-tinh", path, payload), 403)
    r = await signer.post("so-gddt", path, payload)
    assert r.status_code == 201, r.text
    assert (
        "already submitted"
        in assert_error(await signer.post("so-gddt", path, payload), 409)["detail"]
    )
    assert event_counts(engine)["ConsolidatedReportSubmitted"] == 1


# --- reads -----------------------------------------------------------------------------------------


async def test_status_shows_everyone_to_overseers_and_only_itself_to_an_agency(
    signer: Signer, clock: Clock
) -> None:
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT)
    clock.now = at(2023, 12, 5)
    for overseer in ("so-gddt", "ubnd-tinh"):
        r = await signer.get(overseer, f"{D}/status")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["cycle"] == "2023" and len(body["rows"]) == 16
        rows = {row["agency"]: row["status"] for row in body["rows"]}
        assert rows["ubnd-ba-to"] == "completed_on_time" and rows["ubnd-ly-son"] == "overdue"
        assert body["counts"]["overdue"] == 15
    own = (await signer.get("ubnd-ly-son", f"{D}/status")).json()
    assert [row["agency"] for row in own["rows"]] == ["ubnd-ly-son"]
    assert_error(await signer.get("so-y-te", f"{D}/status"), 403)
    assert_error(await signer.get("so-gddt", "/v1/directives/qn-1-x-2020/status"), 404)


async def test_inbox_lists_open_work_for_each_role(signer: Signer) -> None:
    inbox = (await signer.get("ubnd-ba-to", "/v1/agencies/ubnd-ba-to/inbox")).json()
    assert {e["kind"] for e in inbox["entries"]} == {"acknowledge", "complete_items", "report"}
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge")
    await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", REPORT)
    await signer.post(
        "ubnd-ly-son",
        f"{D}/agencies/ubnd-ly-son/cycles/2023/extension",
        {"reason": "x", "proposed_due": "2023-12-05"},
    )
    inbox = (await signer.get("ubnd-ba-to", "/v1/agencies/ubnd-ba-to/inbox")).json()
    assert {e["kind"] for e in inbox["entries"]} == {"complete_items"}
    gddt = (await signer.get("so-gddt", "/v1/agencies/so-gddt/inbox")).json()
    assert {"agency": "ubnd-ba-to", "kind": "review_report"}.items() <= next(
        e for e in gddt["entries"] if e["kind"] == "review_report"
    ).items()
    tinh = (await signer.get("ubnd-tinh", "/v1/agencies/ubnd-tinh/inbox")).json()
    assert [(e["kind"], e["agency"]) for e in tinh["entries"]] == [
        ("decide_extension", "ubnd-ly-son")
    ]
    assert (await signer.get("so-y-te", "/v1/agencies/so-y-te/inbox")).json()["entries"] == []


async def test_the_inbox_comes_in_pages_that_join_up_to_the_whole(signer: Signer) -> None:
    path = "/v1/agencies/ubnd-ba-to/inbox"
    whole = (await signer.get("ubnd-ba-to", path)).json()
    assert len(whole["entries"]) == 3 and whole["next"] is None
    pages, cursor = [], None
    while True:
        query = f"?limit=2&after={cursor}" if cursor else "?limit=2"
        page = (await signer.get("ubnd-ba-to", path + query)).json()
        assert len(page["entries"]) <= 2
        pages.extend(page["entries"])
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == whole["entries"]
    for bad in ("?limit=0", "?limit=501", "?after=no-seq", "?limit=x"):
        assert_error(await signer.get("ubnd-ba-to", path + bad), 422, "invalid")


# --- bad input -------------------------------------------------------------------------------------


async def test_bad_json_and_bad_fields_are_422_naming_the_field(
    signer: Signer, engine: Engine
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    before = total(engine)
    cases: list[tuple[bytes, str]] = [
        (b'{"text": "a",', "body"),
        (dumps({"text": 5}), "body.text"),
        (dumps({"text": "a", "colour": "red"}), "body.colour"),
        (dumps({"text": "a" * 50_001}), "body.text"),
        (dumps({"text": "a\u0000b"}), "body.text"),
        (dumps({"text": "a", "items": {"4a": "finished"}}), "body.items.4a"),
        (
            dumps({"text": "a", "attachment": {"url": "ftp://x", "sha256": "0" * 64}}),
            "body.attachment.url",
        ),
        (
            dumps({"text": "a", "attachment": {"url": "https://x", "sha256": "XYZ"}}),
            "body.attachment.sha256",
        ),
        (dumps({"text": "a", "figures": {"k": "v" * 201}}), "body.figures.k"),
        (b"", "body"),
    ]
    for raw, field in cases:
        body = assert_error(await signer.post("ubnd-ba-to", path, raw=raw), 422, "invalid")
        assert any(f["field"].startswith(field) for f in body["fields"]), (field, body)
        assert "a" * 100 not in str(body)  # the input is not echoed back
    ext = f"{D}/agencies/ubnd-ba-to/cycles/2023/extension"
    for payload, field in (
        ({"reason": "x", "proposed_due": "30/11/2023"}, "body.proposed_due"),
        ({"reason": "x", "proposed_due": "9999-12-31"}, "body.proposed_due"),
        ({"reason": "x" * 2_001, "proposed_due": "2023-12-31"}, "body.reason"),
    ):
        body = assert_error(await signer.post("ubnd-ba-to", ext, payload), 422)
        assert body["fields"][0]["field"] == field
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge", {"why": 1}), 422
    )
    assert body["fields"][0]["field"] == "body.why"
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/items/zz/done"), 422
    )
    assert body["fields"][0]["field"] == "path.item"
    assert total(engine) == before


async def test_text_is_stored_nfc(signer: Signer, engine: Engine) -> None:
    decomposed = "Hoa\u0300n tha\u0300nh"  # "Hoàn thành" with combining accents
    r = await signer.post(
        "ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", {"text": decomposed}
    )
    assert r.status_code == 201
    assert Directives(EventStore(engine)).events(DIRECTIVE)[-1].payload["text"] == "Hoàn thành"


async def test_a_body_over_the_limit_is_413_before_it_is_read_whole(
    signer: Signer, client: httpx.AsyncClient, engine: Engine
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    before = total(engine)
    big = dumps({"text": "a" * 300_000})
    assert_error(await signer.post("ubnd-ba-to", path, raw=big), 413, "payload_too_large")
    # no Content-Length: a chunked body is counted as it streams, and reading stops at the limit
    sent = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"a" * 10_000

    headers = signer.headers("ubnd-ba-to", b"", path=path)
    r = await client.post(path, content=chunks(), headers=headers)
    assert_error(r, 413)
    assert total(engine) == before


# --- idempotency -----------------------------------------------------------------------------------


async def test_a_repeat_returns_the_first_answer_and_records_nothing(
    app: FastAPI, signer: Signer, engine: Engine, wakes: Wakes
) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    first = await signer.post("ubnd-ba-to", path, REPORT, idempotency_key="msg_report_1")
    again = await signer.post("ubnd-ba-to", path, REPORT, idempotency_key="msg_report_1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["x-chidao-replayed"] == "true"
    assert event_counts(engine)["ReportSubmitted"] == 1
    await app.state.wakeups.drain()
    assert wakes.seen == [DIRECTIVE]
    # a refusal is an answer too: repeated as it was
    dup = await signer.post("ubnd-ba-to", path, REPORT, idempotency_key="msg_report_2")
    dup_again = await signer.post("ubnd-ba-to", path, REPORT, idempotency_key="msg_report_2")
    assert dup.status_code == dup_again.status_code == 409 and dup.json() == dup_again.json()


async def test_the_same_id_with_another_request_is_409(signer: Signer, engine: Engine) -> None:
    path = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
    assert (await signer.post("ubnd-ba-to", path, REPORT, idempotency_key="msg_x")).status_code == 201
    other = {**REPORT, "text": "Khác."}
    body = assert_error(
        await signer.post("ubnd-ba-to", path, other, idempotency_key="msg_x"),
        409,
        "idempotency_key_reused",
    )
    assert "different request" in body["detail"]
    body = assert_error(
        await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge", idempotency_key="msg_x"),
        409,
    )
    # another agency may use the same id: ids are per agency
    assert (
        await signer.post(
            "ubnd-ly-son", f"{D}/agencies/ubnd-ly-son/acknowledge", idempotency_key="msg_x"
        )
    ).status_code == 201
    assert event_counts(engine)["ReportSubmitted"] == 1


# --- faults ----------------------------------------------------------------------------------------


async def test_a_waker_that_fails_does_not_fail_the_call(
    engine: Engine,
    secrets: SecretStore,
    agency_secrets: dict[str, str],
    private_keys: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(directive: str) -> None:
        raise ConnectionError("prefect is down")

    app = create_app(engine=engine, secrets=secrets, waker=broken, clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        signer = Signer(c, agency_secrets, private_keys)
        with caplog.at_level(logging.WARNING, logger="chidao.webhook"):
            r = await signer.post("ubnd-ba-to", f"{D}/agencies/ubnd-ba-to/acknowledge")
            await app.state.wakeups.drain()
    assert r.status_code == 201
    assert event_counts(engine)["Acknowledged"] == 1
    assert "waking the flow" in caplog.text
    assert agency_secrets["ubnd-ba-to"] not in caplog.text


async def test_an_internal_error_is_a_bare_500_and_releases_the_id(
    app: FastAPI,
    engine: Engine,
    agency_secrets: dict[str, str],
    private_keys: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = app.state.service
    # As a server would: the exception is answered with a 500, not raised into the client.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://t")
    signer = Signer(client, agency_secrets, private_keys)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /home/x/ledger.db")

    monkeypatch.setattr(service.directives, "execute", explode)
    path = f"{D}/agencies/ubnd-ba-to/acknowledge"
    r = await signer.post("ubnd-ba-to", path, idempotency_key="msg_boom")
    body = assert_error(r, 500, "internal")
    assert "internals" not in r.text
    with engine.connect() as conn:
        claims = select(webhook_requests).where(webhook_requests.c.status_code != -1)
        assert conn.execute(claims).first() is None
    monkeypatch.undo()
    assert (await signer.post("ubnd-ba-to", path, idempotency_key="msg_boom")).status_code == 201
    assert body["detail"] == "internal error"
    await client.aclose()
