"""The agency's inbox page, behind its signed link: its open work on every directive (the
overdue first), in Vietnamese, with the forms to answer; what the mail's link opens."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from html import unescape

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from chidao.webhook import SecretStore, create_app
from definitions.loader import DIRECTIVES_DIR
from ledger.directives import Directives
from ledger.store import EventStore
from lifecycle.commands import Issue, SubmitReport
from notifications.links import sign_agency_link, sign_link
from tests.lifecycle.helpers import at, resolved
from tests.test_vietnam_time import other_language_words
from tests.webhook.conftest import DIRECTIVE, Clock, Wakes, event_counts
from tests.webhook.test_form import KEY, later

pytestmark = pytest.mark.anyio
D5185 = "qn-5185-ubnd-kgvx-2021"
INBOX = "/v1/agencies/ubnd-ly-son"


def issue_5185_and_reports(engine: Engine) -> None:
    """5185 issued too (its 2021 report due 15/11/2021: overdue by 2023), and a few 2810
    reports in (so the consolidator's draft has something to gather)."""
    directives = Directives(EventStore(engine))
    directives.execute(
        D5185,
        Issue(actor="operator", resolved=resolved(DIRECTIVES_DIR / f"{D5185}.yaml").model_dump(mode="json")),
        at(2021, 10, 5),
        key="issue-5185",
    )
    for agency, text, day in (
        ("so-gddt", "Báo cáo kết quả năm 2023 của Sở Giáo dục và Đào tạo.", 10),
        ("ubnd-ba-to", "Huyện Ba Tơ đã tổ chức tuyên truyền ở 19 xã, thị trấn.", 12),
    ):
        directives.execute(
            DIRECTIVE,
            SubmitReport(actor=agency, agency=agency, cycle="2023", text=text),
            at(2023, 11, day),
            key=f"report-{agency}",
        )


@pytest.fixture
def inbox_app(
    engine: Engine, secrets: SecretStore, clock: Clock, wakes: Wakes, agency_secrets: dict[str, str]
) -> FastAPI:
    issue_5185_and_reports(engine)
    clock.now = at(2023, 11, 20)
    return create_app(engine=engine, secrets=secrets, waker=wakes, clock=clock, link_key=KEY)


@pytest.fixture
async def browser(inbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=inbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


def text_of(page: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", page))


async def test_the_inbox_lists_every_directive_the_overdue_first(browser: httpx.AsyncClient) -> None:
    token = sign_agency_link(KEY, "ubnd-ly-son", later())
    response = await browser.get(INBOX, params={"token": token})
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    words = " ".join(text_of(page).split())
    assert "Việc cần làm: Ủy ban nhân dân huyện Lý Sơn" in words
    # 5185 (report due 15/11/2021, overdue) before 2810 (due 30/11/2023, within the deadline)
    assert page.index(f'id="d-{D5185}"') < page.index(f'id="d-{DIRECTIVE}"')
    assert "5185/UBND-KGVX" in words and "2810/UBND-KGVX" in words
    assert "15/11/2021" in words and "30/11/2023" in words
    assert re.search(r'<tr class="overdue">\s*<td>Gửi báo cáo kết quả thực hiện</td>', unescape(page))
    # the forms to answer, on this page, each carrying the agency's token
    assert page.count('action="/v1/directives/') >= 4  # acknowledge and report, twice
    assert f'name="token" value="{token}"' in page and 'type="file"' in page
    assert "http://" not in page.replace("http://webhook.test", "") and "<script" not in page
    # its own words are all Vietnamese
    assert other_language_words(page, "vi") == []


async def test_answering_from_the_inbox_comes_back_to_it(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    token = sign_agency_link(KEY, "ubnd-ly-son", later())
    before = event_counts(engine).get("Acknowledged", 0)
    response = await browser.post(
        f"/v1/directives/{D5185}/agencies/ubnd-ly-son/form/acknowledge",
        data={"token": token, "form_id": "inbox-ack-1", "back": "inbox"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{INBOX}?token=")
    assert response.headers["location"].endswith(f"#d-{D5185}")
    assert event_counts(engine)["Acknowledged"] == before + 1
    again = await browser.get(response.headers["location"].split("#")[0])
    assert "Đã ghi nhận" in again.text


async def test_the_inbox_needs_the_agencys_own_link(browser: httpx.AsyncClient) -> None:
    # none, tampered, another agency's, expired: refused with how to get a new one
    other = sign_agency_link(KEY, "ubnd-ba-to", later())
    tampered = sign_agency_link(KEY, "ubnd-ly-son", later())[:-3] + "AAA"
    expired = sign_agency_link(KEY, "ubnd-ly-son", later(-1))
    # a directive's link opens that directive's page, not the whole inbox
    one_directive = sign_link(KEY, DIRECTIVE, "ubnd-ly-son", later())
    for token in (None, other, tampered, expired, one_directive):
        params = {"token": token} if token else {}
        response = await browser.get(INBOX, params=params)
        assert response.status_code == 401, token
        assert "ubnd-ly-son" not in response.text.replace(INBOX, "")
    assert "hết hạn" in (await browser.get(INBOX, params={"token": expired})).text


async def test_the_consolidator_gets_the_draft_behind_its_link(browser: httpx.AsyncClient) -> None:
    token = sign_agency_link(KEY, "so-gddt", later())
    base = f"/v1/directives/{DIRECTIVE}/agencies/so-gddt/draft/2023"
    page = await browser.get(f"{base}.html", params={"token": token})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "BÁO CÁO" in page.text and "Huyện Ba Tơ đã tổ chức tuyên truyền" in page.text
    docx = await browser.get(f"{base}.docx", params={"token": token})
    assert docx.status_code == 200 and docx.content.startswith(b"PK")
    # not the consolidator: no draft, even with its own genuine link
    ba_to = sign_agency_link(KEY, "ubnd-ba-to", later())
    theirs = f"/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to/draft/2023.html"
    assert (await browser.get(theirs, params={"token": ba_to})).status_code == 404
    assert (await browser.get(f"{base}.html", params={"token": ba_to})).status_code == 401


async def test_the_drafts_files_open_for_the_consolidator(browser: httpx.AsyncClient) -> None:
    pdf = b"%PDF-1.4\n% Son Ha\n%%EOF\n"
    son_ha = sign_agency_link(KEY, "ubnd-son-ha", later())
    request = httpx.Request(
        "POST", "http://x/",
        data={"token": son_ha, "form_id": "son-ha-report-1", "cycle": "2023",
              "text": "Huyện Sơn Hà gửi báo cáo kèm số liệu.", "back": "inbox"},
        files=[("file", ("số liệu Sơn Hà.pdf", pdf, "application/pdf"))],
    )  # fmt: skip
    body = request.read()
    sent = await browser.post(
        f"/v1/directives/{DIRECTIVE}/agencies/ubnd-son-ha/form/report",
        content=body,
        headers={"content-type": request.headers["content-type"]},
    )
    assert sent.status_code == 303
    token = sign_agency_link(KEY, "so-gddt", later())
    draft = await browser.get(
        f"/v1/directives/{DIRECTIVE}/agencies/so-gddt/draft/2023.html", params={"token": token}
    )
    [href] = re.findall(r"<a href='([^']+)'>số liệu Sơn Hà\.pdf</a>", unescape(draft.text))
    got = await browser.get(href)
    assert got.status_code == 200 and got.content == pdf
    # the link is the department's: Sơn Hà's own token does not open it on that path
    path, _, _query = href.partition("?")
    assert (await browser.get(path, params={"token": son_ha})).status_code == 401


def test_the_consolidation_request_mail_links_the_draft() -> None:
    from definitions.calendar import default_calendar
    from lifecycle import due_actions
    from notifications.compose import compose
    from notifications.links import verify_any_link
    from tests.webhook.test_form import issued_state

    state = issued_state()
    [action] = [
        a for a in due_actions(state, at(2023, 12, 1), default_calendar())
        if a.kind == "request_consolidation"
    ]  # fmt: skip
    [notice] = compose(
        action, state, answer_url="https://chidao.example", link_key=KEY, link_expires=later(60)
    )
    base = f"https://chidao.example/v1/directives/{DIRECTIVE}/agencies/so-gddt/draft/2023"
    for ext in ("docx", "html"):
        [url] = re.findall(re.escape(base) + rf"\.{ext}\?token=([^\s\"<]+)", notice.text)
        assert verify_any_link(KEY, url, dt.datetime.now(dt.UTC)) == (None, "so-gddt")
    assert "Dự thảo báo cáo tổng hợp" in notice.text and f"{base}.docx" in notice.html
    # without a key there is nothing to sign the links with: no draft links
    [plain] = compose(action, state, answer_url="https://chidao.example")
    assert "/draft/" not in plain.text
