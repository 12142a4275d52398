"""The browser form: a person with the link from a mail answers for its agency, over ASGI.

Links are made with `notifications.links` under a test key, the way compose makes them for
mail; the last test checks that a composed issue notice carries such a link.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import unicodedata
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from chidao.settings import KEY_FILE_NAME, Settings
from chidao.webhook import SecretStore, create_app
from definitions.calendar import default_calendar
from flows.directive import Runtime
from ledger.directives import Directives
from ledger.store import EventStore
from lifecycle import DirectiveState, apply, decide, due_actions
from lifecycle.commands import Issue
from lifecycle.planner import Action
from notifications.compose import compose
from notifications.links import (
    LinkExpired,
    LinkInvalid,
    link_url,
    sign_link,
    verify_any_link,
    verify_link,
)
from tasks.actions import ActionInput
from tests.lifecycle.helpers import at, resolved
from tests.webhook.conftest import DIRECTIVE, Clock, Wakes, event_counts

pytestmark = pytest.mark.anyio

KEY = b"k" * 32
PAGE = f"/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to"


def later(days: int = 30) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def token_for(agency: str = "ubnd-ba-to", *, expires: dt.datetime | None = None) -> str:
    return sign_link(KEY, DIRECTIVE, agency, expires or later())


@pytest.fixture
def form_app(
    engine: Engine, secrets: SecretStore, clock: Clock, wakes: Wakes, agency_secrets: dict[str, str]
) -> FastAPI:
    return create_app(
        engine=engine,
        secrets=secrets,
        waker=wakes,
        clock=clock,
        max_body_bytes=200_000,
        link_key=KEY,
    )


@pytest.fixture
async def browser(form_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=form_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


def hidden(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `.../form/{action}` (the first one)."""
    start = html.index(f'/form/{action}"')
    form = html[start : html.index("</form>", start)]
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }


async def page(browser: httpx.AsyncClient, token: str | None) -> httpx.Response:
    return await browser.get(PAGE, params={"token": token} if token is not None else None)


async def post(
    browser: httpx.AsyncClient, action: str, fields: dict[str, str], path: str = PAGE
) -> httpx.Response:
    return await browser.post(f"{path}/form/{action}", data=fields)


async def test_a_valid_link_shows_the_agencys_work_in_vietnamese(
    browser: httpx.AsyncClient,
) -> None:
    r = await page(browser, token_for())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert "set-cookie" not in r.headers
    html = r.text
    assert '<html lang="vi">' in html
    assert unicodedata.is_normalized("NFC", html)
    assert "Ủy ban nhân dân huyện Ba Tơ" in html
    assert "Xác nhận đã tiếp nhận" in html
    assert "Hạn báo cáo" in html and "Gửi báo cáo" in html and "Đề nghị gia hạn" in html
    assert "năm 2023" in html  # the current cycle
    for item in ("4a", "4b", "4c", "4d"):  # its items, none done yet
        assert f'id="item-{item}"' in html
    assert html.count("Chưa hoàn thành") == 4
    assert 'id="item-1a"' not in html  # Sở GD&ĐT's work is not on Ba Tơ's page
    assert "/form/acknowledge" in html and "/form/item" in html


@pytest.mark.parametrize("case", ["missing", "expired", "tampered", "other-agency", "other-key"])
async def test_a_bad_link_is_a_401_page_that_shows_no_data(
    browser: httpx.AsyncClient, case: str
) -> None:
    good = token_for()
    _payload, mac = good.split(".")
    token = {
        "missing": None,
        "expired": token_for(expires=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)),
        "tampered": token_for("ubnd-ly-son").split(".")[0] + "." + mac,
        "other-agency": token_for("ubnd-ly-son"),
        "other-key": sign_link(b"x" * 32, DIRECTIVE, "ubnd-ba-to", later()),
    }[case]
    r = await page(browser, token)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "đường dẫn" in html and "RFC 9421" in html
    assert "Ba Tơ" not in html and "4a" not in html and "<form" not in html
    if case == "expired":
        assert "hết hạn" in html


async def test_acknowledge_through_the_form_records_once_even_when_clicked_twice(
    browser: httpx.AsyncClient, engine: Engine, wakes: Wakes, form_app: FastAPI
) -> None:
    fields = hidden((await page(browser, token_for())).text, "acknowledge")
    assert set(fields) == {"token", "form_id"}
    first = await post(browser, "acknowledge", fields)
    assert first.status_code == 303, first.text
    target = urlsplit(first.headers["location"])
    assert target.path == PAGE and parse_qs(target.query)["flash"] == ["acknowledge"]
    again = await post(browser, "acknowledge", fields)  # the double click
    assert again.status_code == 303
    assert event_counts(engine)["Acknowledged"] == 1
    stored = Directives(EventStore(engine)).events(DIRECTIVE)[-1]
    assert stored.type == "Acknowledged" and stored.actor == "ubnd-ba-to"
    assert stored.idempotency_key == f"wh:ubnd-ba-to:form-{fields['form_id']}"
    shown = await browser.get(first.headers["location"])
    assert shown.status_code == 200
    assert "Đã ghi nhận" in shown.text and "Đã xác nhận tiếp nhận ngày 01/11/2023" in shown.text
    assert "/form/acknowledge" not in shown.text
    await form_app.state.wakeups.drain()
    assert wakes.seen == [DIRECTIVE]
    # the server could have made a form answer: verify --signatures counts it apart
    from ledger.answers import check_answers

    report = check_answers(EventStore(engine))
    assert report.ok and (report.form, report.server_attested, report.agency_signed) == (1, 1, 0)


async def test_an_item_is_marked_done_with_its_note(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    fields = hidden((await page(browser, token_for())).text, "item")
    assert fields["item"] == "4a"
    r = await post(browser, "item", {**fields, "note": "Đã mở 3 lớp xóa mù chữ"})
    assert r.status_code == 303, r.text
    assert event_counts(engine)["ItemCompleted"] == 1
    shown = (await browser.get(r.headers["location"])).text
    assert "Đã mở 3 lớp xóa mù chữ" in shown and shown.count("Chưa hoàn thành") == 3


async def test_a_report_through_the_form_records_once_and_a_second_one_is_refused_with_409(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    fields = hidden((await page(browser, token_for())).text, "report")
    assert fields["cycle"] == "2023"
    text = "Báo cáo kết quả thực hiện năm 2023 của huyện Ba Tơ."
    decomposed = unicodedata.normalize("NFD", text)
    first = await post(browser, "report", {**fields, "text": decomposed})
    assert first.status_code == 303, first.text
    assert (await post(browser, "report", {**fields, "text": decomposed})).status_code == 303
    assert event_counts(engine)["ReportSubmitted"] == 1
    stored = Directives(EventStore(engine)).events(DIRECTIVE)[-1]
    assert stored.payload["text"] == text  # stored NFC

    # A second report from a page loaded before the first was sent: a new form id.
    stale = {**fields, "form_id": fields["form_id"] + "-second", "text": "Báo cáo lần hai."}
    refused = await post(browser, "report", stale)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("text/html")
    assert "Không ghi nhận được" in refused.text
    assert "đã gửi báo cáo kỳ 2023" in refused.text  # the refusal in the page's language
    assert "already submitted" not in refused.text
    assert event_counts(engine)["ReportSubmitted"] == 1


async def test_an_extension_request_and_bad_fields(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    fields = hidden((await page(browser, token_for())).text, "extension")
    bad = await post(browser, "extension", {**fields, "reason": "", "proposed_due": "2024-02-01"})
    assert bad.status_code == 422 and "Thông tin chưa hợp lệ" in bad.text and "lý do" in bad.text
    assert "ExtensionRequested" not in event_counts(engine)
    ask = {**fields, "reason": "Chờ số liệu của các xã", "proposed_due": "2024-02-01"}
    r = await post(browser, "extension", ask)
    assert r.status_code == 303, r.text
    assert event_counts(engine)["ExtensionRequested"] == 1
    shown = (await browser.get(r.headers["location"])).text
    assert "Đang chờ quyết định gia hạn đến ngày" in shown and "01/02/2024" in shown


async def test_a_post_needs_this_agencys_live_link(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    fields = hidden((await page(browser, token_for())).text, "acknowledge")
    before = event_counts(engine)
    # Ba Tơ's link used on Lý Sơn's form: another agency's work.
    other = f"/v1/directives/{DIRECTIVE}/agencies/ubnd-ly-son"
    forbidden = await post(browser, "acknowledge", fields, path=other)
    assert forbidden.status_code == 403 and "cơ quan khác" in forbidden.text
    # No token, or an expired one: the 401 page.
    assert (await post(browser, "acknowledge", {"form_id": fields["form_id"]})).status_code == 401
    expired = token_for(expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert (await post(browser, "acknowledge", {**fields, "token": expired})).status_code == 401
    assert event_counts(engine) == before


async def test_the_form_is_not_in_the_openapi_document(browser: httpx.AsyncClient) -> None:
    spec = (await browser.get("/openapi.json")).json()
    assert "/v1/directives/{directive}/agencies/{agency}" not in spec["paths"]
    assert not any("/form/" in path for path in spec["paths"])


async def test_signed_api_paths_still_need_a_signature(browser: httpx.AsyncClient) -> None:
    r = await browser.post(f"{PAGE}/acknowledge", params={"token": token_for()})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


# --- the links themselves ----------------------------------------------------------------------


def test_a_link_verifies_for_its_directive_and_agency_until_it_expires() -> None:
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    token = sign_link(KEY, DIRECTIVE, "ubnd-ba-to", expires)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert verify_link(KEY, token, expires - dt.timedelta(seconds=1)) == (DIRECTIVE, "ubnd-ba-to")
    with pytest.raises(LinkExpired):
        verify_link(KEY, token, expires)
    with pytest.raises(LinkInvalid):
        verify_link(b"another key", token, expires - dt.timedelta(days=1))
    url = link_url("http://h:1/", KEY, DIRECTIVE, "ubnd-ba-to", expires)
    assert url == f"http://h:1/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to?token={token}"


@pytest.mark.parametrize(
    "token",
    ["", "x", "a.b.c", "!!!.???", "." * 2, "a" * 700 + ".b", "dGVzdA.dGVzdA"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(LinkInvalid):
        verify_link(KEY, token, dt.datetime.now(dt.UTC))


def test_every_altered_character_is_refused() -> None:
    token = sign_link(KEY, DIRECTIVE, "ubnd-ba-to", later())
    for i, char in enumerate(token):
        if char == ".":
            continue
        altered = token[:i] + ("A" if char != "A" else "B") + token[i + 1 :]
        with pytest.raises(LinkInvalid):
            verify_link(KEY, altered, dt.datetime.now(dt.UTC))


def test_a_naive_time_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        sign_link(KEY, DIRECTIVE, "ubnd-ba-to", dt.datetime(2030, 1, 1))


# --- the mail carries the link ------------------------------------------------------------------


def test_the_issue_notice_carries_a_link_to_the_agencys_inbox_page() -> None:
    state = issued_state()
    action = next(
        a
        for a in due_actions(state, state.issued_at, default_calendar())  # type: ignore[arg-type]
        if a.kind == "issue_notice" and a.agency == "ubnd-ba-to"
    )
    expires = later(60)
    [notice] = compose(
        action, state, answer_url="https://chidao.example", link_key=KEY, link_expires=expires
    )
    found = re.findall(r"https://chidao\.example/v1/agencies/[^\s\"<]+", notice.text)
    assert found, notice.text
    url = urlsplit(found[0])
    # the agency's inbox page, at this directive's entries
    assert url.path == "/v1/agencies/ubnd-ba-to" and url.fragment == f"d-{DIRECTIVE}"
    token = parse_qs(url.query)["token"][0]
    # an agency's token: good for its work on every directive, and for no other agency
    assert verify_any_link(KEY, token, dt.datetime.now(dt.UTC)) == (None, "ubnd-ba-to")
    with pytest.raises(LinkInvalid):
        verify_link(KEY, token, dt.datetime.now(dt.UTC))
    assert f"token={token}" in notice.html
    # Without a key: the plain link, as before.
    [plain] = compose(action, state, answer_url="https://chidao.example")
    assert "token=" not in plain.text and f"https://chidao.example{PAGE}" in plain.text


def issued_state() -> DirectiveState:
    state = DirectiveState()
    command = Issue(actor="operator", resolved=resolved().model_dump(mode="json"))
    for event in decide(state, command, at(2023, 6, 20)):
        apply(state, event)
    return state


# --- the key ------------------------------------------------------------------------------------


def test_the_link_key_comes_from_the_one_secret_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHIDAO_SECRET_KEY", raising=False)
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    from_file = Settings().link_key()
    assert (tmp_path / "home" / KEY_FILE_NAME).exists()
    assert Settings().link_key() == from_file  # the same file, the same key
    assert from_file != Settings().encryption_key()  # derived, not the secret itself
    monkeypatch.setenv("CHIDAO_SECRET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    from_setting = Settings().link_key()
    assert from_setting != from_file and len(from_setting) == 32

    runtime = Runtime.from_settings(Settings())
    assert runtime.link_key is not None and runtime.link_key.get_secret_value() == from_setting
    inp = ActionInput(
        database_url="sqlite://",
        action=Action(key="k", directive=DIRECTIVE, kind="issue_notice", due_at=at(2023, 6, 20)),
        at=at(2023, 6, 20),
        answer_url="http://h",
        link_key=runtime.link_key,
    )
    for shown in (repr(inp), str(inp), repr(runtime), inp.model_dump_json()):
        assert from_setting.hex() not in shown and repr(from_setting) not in shown
