"""The operators' API and the agency's signed explanation: roles, keys, idempotency, refusals.

The app as the other webhook tests build it (2810 issued, business time 05/12/2023, so its 2023
reports are late), with a link key, so operators' tokens work; calls go through httpx's ASGI
transport (the real HTTP server is exercised by tests/e2e/test_dashboard.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from chidao.webhook import SecretStore, create_app
from chidao.webhook.operator_auth import operator_key, sign_token
from ledger.operators import Operators
from ledger.store import EventStore
from tests.lifecycle.helpers import at
from tests.webhook.conftest import DIRECTIVE, Clock, Signer, Wakes

pytestmark = pytest.mark.anyio
LINK_KEY = b"k" * 32
ASK = f"/ops/api/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to/cycles/2023/explanation-request"
ANSWER = f"/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to/cycles/2023/explanation"


def _key(operator_id: str, purpose: str = "api", hours: float = 1) -> str:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    return sign_token(operator_key(LINK_KEY), operator_id, purpose, expires)  # type: ignore[arg-type]


@pytest.fixture
def ops_app(engine: Engine, secrets: SecretStore, clock: Clock, wakes: Wakes,
            agency_secrets: dict[str, str]) -> FastAPI:  # fmt: skip
    registry = Operators(EventStore(engine))
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    registry.add("lanh.dao", name="Nguyễn Văn Lãnh", role="overseer", at=now, actor="operator:admin")
    registry.add("tong.hop", name="Lê Tổng Hợp", role="consolidator", at=now, actor="operator:admin")
    clock.now = at(2023, 12, 5)
    return create_app(engine=engine, secrets=secrets, waker=wakes, clock=clock, link_key=LINK_KEY)


@pytest.fixture
async def ops_client(ops_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ops_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


def _bearer(key: str, idem: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    return {**headers, "Idempotency-Key": idem} if idem else headers


async def test_an_overseer_asks_over_the_api_once_and_the_agency_answers_signed(
    ops_client: httpx.AsyncClient, private_keys: dict, agency_secrets: dict[str, str], wakes: Wakes,
) -> None:  # fmt: skip
    body = {"due": "2023-12-15", "text": "Đề nghị giải trình."}
    first = await ops_client.post(ASK, json=body, headers=_bearer(_key("lanh.dao"), "ask-0001"))
    assert first.status_code == 201, first.text
    assert first.json()["actor"] == "operator:lanh.dao"
    again = await ops_client.post(ASK, json=body, headers=_bearer(_key("lanh.dao"), "ask-0001"))
    assert again.status_code == 201 and again.headers["x-chidao-replayed"] == "true"
    other = await ops_client.post(ASK, json=body, headers=_bearer(_key("lanh.dao"), "ask-0002"))
    assert other.status_code == 409 and "not answered yet" in other.json()["detail"]
    consolidator = await ops_client.post(ASK, json=body, headers=_bearer(_key("tong.hop"), "ask-0003"))
    assert consolidator.status_code == 403
    dashboard_link = await ops_client.post(
        ASK, json=body, headers=_bearer(_key("lanh.dao", "dashboard"), "ask-0004")
    )
    assert dashboard_link.status_code == 401
    bad = await ops_client.post(ASK, json={"due": "soon", "text": ""},
                                headers=_bearer(_key("lanh.dao"), "ask-0005"))  # fmt: skip
    assert bad.status_code == 422

    signer = Signer(ops_client, agency_secrets, private_keys)
    inbox = await signer.get("ubnd-ba-to", "/v1/agencies/ubnd-ba-to/inbox")
    [explain] = [e for e in inbox.json()["entries"] if e["kind"] == "explain"]
    assert (explain["cycle"], explain["due"]) == ("2023", "2023-12-15")
    wrong = await signer.post("ubnd-ly-son", ANSWER, {"text": "Không phải của tôi."},
                              idempotency_key="ans-1")  # fmt: skip
    assert wrong.status_code == 403
    answered = await signer.post("ubnd-ba-to", ANSWER, {"text": "Do thiếu cán bộ."},
                                 idempotency_key="ans-2")  # fmt: skip
    assert answered.status_code == 201, answered.text
    assert [e["type"] for e in answered.json()["events"]] == ["ExplanationGiven"]
    twice = await signer.post("ubnd-ba-to", ANSWER, {"text": "Lần nữa."}, idempotency_key="ans-3")
    inbox = await signer.get("ubnd-ba-to", "/v1/agencies/ubnd-ba-to/inbox")
    assert [e for e in inbox.json()["entries"] if e["kind"] == "explain"] == []
    assert twice.status_code == 409
    assert DIRECTIVE in wakes.seen

    stats = await ops_client.get("/ops/api/v1/stats", params={"period": "2023"},
                                 headers=_bearer(_key("lanh.dao")))  # fmt: skip
    assert stats.status_code == 200
    total = stats.json()["reports"][0]
    assert (total["explanations_asked"], total["explanations_answered"]) == (1, 1)
    assert total["open_overdue"] == 16


async def test_the_stats_api_names_what_is_wrong(ops_client: httpx.AsyncClient) -> None:
    key = _bearer(_key("lanh.dao"))
    for params, status, words in (
        ({"period": "2023-13"}, 422, "period"),
        ({"from": "2023-12-01", "to": "2023-01-01"}, 422, "before"),
        ({"directive": "khong-co"}, 404, "khong-co"),
        ({"agency": "khong-co"}, 404, "khong-co"),
    ):
        answer = await ops_client.get("/ops/api/v1/stats", params=params, headers=key)
        assert answer.status_code == status and words in answer.json()["detail"], answer.text
    expired = await ops_client.get("/ops/api/v1/stats", headers=_bearer(_key("lanh.dao", hours=-1)))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    gone = await ops_client.get("/ops/api/v1/stats", headers=_bearer(_key("ai.do")))
    assert gone.status_code == 401
