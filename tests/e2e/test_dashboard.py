"""The operators' dashboard in a real browser, over the real HTTP app, and an explanation asked,
answered and reported.

One server per module: the webhook app under uvicorn on a loopback port, over a SQLite ledger
with 2810 issued and its 2023 cycle late on 08/12/2023 (the app's business clock): one agency
reported on time, one was granted an extension to 04/12 (4 days late, not 8), one was escalated
to level 2 and another to level 1 (so among the 8-days-late the level orders them), the
consolidated report is due within 5 working days. The operator is added and linked with the
CLI (`chidao operators add`, `link`), as an administrator would. Headless Chromium (Debian's
`/usr/bin/chromium`, Playwright) opens the link; every request not to 127.0.0.1 is aborted
and recorded, and none may happen; console errors fail the test. Screenshots go to
`test-artifacts/dashboard/`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chidao.cli import main
from tests.flows.test_up import REPO
from tests.lifecycle.helpers import at, resolved
from tests.webhook.concurrency_helpers import serving

pytestmark = [pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "dashboard"
D = "qn-2810-ubnd-kgvx-2023"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
NOW = at(2023, 12, 8, 10)  # business time the app sees: Friday 08/12/2023, 10:00 in Vietnam
REPORTED = "so-ldtbxh"  # on time: not on the dashboard
EXTENDED = "hoi-khuyen-hoc-tinh"  # granted to 04/12: 4 days late
LEVEL2 = "ubnd-ba-to"  # 8 days late, escalation level 2: first
LEVEL1 = "ubnd-ly-son"  # 8 days late, level 1: second


@dataclass
class Site:
    url: str
    home: Path
    database_url: str
    link_key: bytes
    signin: str
    api_key: str


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, (args, out, err)
    return out


def _escalate(agency: str, level: int) -> Any:
    from lifecycle import commands as cmd
    from lifecycle.planner import Action

    action = Action(
        kind="escalate", key=f"{D}:2023:{agency}:escalate@2023-11-30:{level}.1", directive=D,
        due_at=at(2023, 12, 1, 8), cycle="2023", agency=agency, recipient=agency,
        obligation="report", due=dt.date(2023, 11, 30), level=level, repeat=1,
    )  # fmt: skip
    return cmd.PerformAction(actor="system", action=action)


def _ledger(url: str) -> None:
    from ledger.db import ensure_schema, make_engine
    from ledger.directives import Directives
    from ledger.store import EventStore
    from lifecycle import commands as cmd

    engine = make_engine(url)
    ensure_schema(engine)
    directives = Directives(EventStore(engine))
    steps: list[tuple[Any, dt.datetime]] = [
        (cmd.Issue(actor="operator", resolved=resolved().model_dump(mode="json")), at(2023, 6, 20)),
        (cmd.SubmitReport(actor=REPORTED, agency=REPORTED, cycle="2023", text="Đã thực hiện."),
         at(2023, 11, 20)),
        (cmd.RequestExtension(actor=EXTENDED, agency=EXTENDED, cycle="2023", reason="Chờ số liệu",
                              proposed_due=dt.date(2023, 12, 4)), at(2023, 11, 25)),
        (cmd.GrantExtension(actor="ubnd-tinh", agency=EXTENDED, cycle="2023"), at(2023, 11, 27)),
        (_escalate(LEVEL1, 1), at(2023, 12, 1, 8)),
        (_escalate(LEVEL2, 1), at(2023, 12, 1, 8)),
        (_escalate(LEVEL2, 2), at(2023, 12, 7, 8)),
    ]  # fmt: skip
    for n, (command, when) in enumerate(steps):
        directives.execute(D, command, when, key=f"setup-{n}")
    engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from cryptography.fernet import Fernet

    from chidao.settings import load_settings
    from chidao.webhook import SecretStore, create_app
    from ledger.db import make_engine

    root = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{root / 'ledger.db'}"
    _ledger(url)
    patch = pytest.MonkeyPatch()
    patch.setenv("CHIDAO_HOME", str(root / "home"))
    patch.setenv("CHIDAO_DATABASE_URL", url)
    patch.setenv("CHIDAO_LANG", "vi")
    patch.setenv("CHIDAO_OPERATOR", "quan.tri")
    engine = make_engine(url)
    try:
        link_key = load_settings().link_key()
        app = create_app(engine=engine, secrets=SecretStore(engine, Fernet.generate_key()),
                         clock=lambda: NOW, link_key=link_key)  # fmt: skip
        with serving(app) as base:
            patch.setenv("CHIDAO_WEBHOOK_BASE_URL", base)
            yield Site(base, root / "home", url, link_key, "", "")
    finally:
        engine.dispose()
        patch.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@dataclass
class Watch:
    errors: list[str]
    left: list[str]
    seen: list[str]


def _page(browser: Any, **options: Any) -> tuple[Any, Watch]:
    """A page whose every request not to 127.0.0.1 is aborted and recorded, with its console
    errors and uncaught exceptions collected."""
    context = browser.new_context(locale="vi-VN", **options)
    watch = Watch([], [], [])

    def route(r: Any) -> None:
        watch.seen.append(r.request.url)
        if urlsplit(r.request.url).hostname != "127.0.0.1":
            watch.left.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    return page, watch


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_the_dashboard_puts_the_late_first_and_an_explanation_reaches_the_report(
    site: Site, browser: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    from docx import Document

    from notifications.links import link_url

    _cli(monkeypatch, capsys, "operators", "add", "lanh.dao", "--name", "Nguyễn Văn Lãnh",
         "--role", "overseer")  # fmt: skip
    signin = _cli(monkeypatch, capsys, "operators", "link", "lanh.dao").strip()
    assert signin.startswith(f"{site.url}/ops/signin?token=")
    listed = json.loads(_cli(monkeypatch, capsys, "operators", "list", "--json"))
    assert [(o["id"], o["role"], o["added_by"]) for o in listed] == [
        ("lanh.dao", "overseer", "operator:quan.tri")
    ]

    page, watch = _page(browser, viewport={"width": 1280, "height": 900})
    page.goto(signin)
    assert urlsplit(page.url).path == "/ops/" and "token" not in page.url
    overdue = page.locator("#overdue-table tbody tr")
    order = [overdue.nth(i).get_attribute("data-agency") for i in range(overdue.count())]
    # 8 days late: level 2 first, then level 1, then the level-0 ones; the extended one last
    assert order[:2] == [LEVEL2, LEVEL1]
    assert order[-1] == EXTENDED and REPORTED not in order
    assert len(order) == 15  # the 16 tracked agencies but the one that reported
    first = overdue.nth(0).inner_text()
    assert "Ủy ban nhân dân huyện Ba Tơ" in first and "30/11/2023" in first
    assert "8" in overdue.nth(0).locator("td.days").inner_text()
    assert "4" in overdue.nth(14).locator("td.days").inner_text()
    soon = page.locator("#soon-table tbody tr")
    assert soon.count() == 1 and "tổng hợp" in soon.nth(0).inner_text().lower()
    body = page.inner_text("body")
    for words in ("Quá hạn", "Sở Giáo dục và Đào tạo", "Tiến độ của từng văn bản", "08/12/2023"):
        assert words in body, words
    assert page.evaluate("document.documentElement.lang") == "vi"
    _shot(page, "1-dashboard.png")

    # filters: one agency; English on request
    page.goto(f"{site.url}/ops/?agency={EXTENDED}&lang=en")
    assert page.locator("#overdue-table tbody tr").count() == 1
    assert "Overdue" in page.inner_text("h2.late")
    _shot(page, "2-dashboard-en-filtered.png")

    # the agency's work: ask for an explanation, recorded under the operator
    page.goto(f"{site.url}/ops/")
    page.locator(f"tr[data-agency='{LEVEL2}'] a").first.click()
    assert f"/ops/directives/{D}/agencies/{LEVEL2}" in page.url
    assert page.locator("#history tbody tr").count() == 2  # its two escalations
    page.fill("form.ask textarea[name=text]", "Đề nghị giải trình lý do chậm báo cáo năm 2023.")
    page.fill("form.ask input[name=due]", "2023-12-15")
    page.click("form.ask button[type=submit]")
    assert "Đã ghi nhận" in page.inner_text(".flash")
    assert "Đề nghị giải trình lý do chậm báo cáo năm 2023." in page.inner_text("body")
    _shot(page, "3-agency-asked.png")

    # the agency answers on its form (the link its mail carries)
    agency_link = link_url(site.url, site.link_key, D, LEVEL2,
                           dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))  # fmt: skip
    page.goto(agency_link)
    page.fill("#explanation-2023", "Do thiếu cán bộ chuyên trách; đơn vị sẽ nộp trước 15/12/2023.")
    page.click("form[action$='/form/explanation'] button[type=submit]")
    assert "Đã ghi nhận" in page.inner_text(".flash")
    _shot(page, "4-agency-answered.png")

    # the dashboard shows it answered
    page.goto(f"{site.url}/ops/")
    assert "đã trả lời" in page.locator(f"tr[data-agency='{LEVEL2}']").inner_text().lower()

    # a phone: nothing wider than the screen
    phone, phone_watch = _page(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(signin)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(phone, "5-dashboard-phone.png")

    assert watch.errors == [] and phone_watch.errors == []
    assert watch.left == [] and phone_watch.left == []
    assert watch.seen and all(urlsplit(u).hostname == "127.0.0.1" for u in watch.seen)

    # the event is the operator's, the answer the agency's
    from ledger.db import make_engine
    from ledger.store import EventStore

    engine = make_engine(site.database_url)
    events = [e for e in EventStore(engine).read(D) if e.type.startswith("Explanation")]
    engine.dispose()
    assert [(e.type, e.actor) for e in events] == [
        ("ExplanationRequested", "operator:lanh.dao"), ("ExplanationGiven", LEVEL2)
    ]

    # statistics: the CLI and the API agree
    stats = json.loads(_cli(monkeypatch, capsys, "stats", "--period", "2023", "--json",
                            "--as-of", "2023-12-08T12:00:00+07:00"))  # fmt: skip
    total = stats["reports"][0]
    assert (total["key"], total["explanations_asked"], total["explanations_answered"]) == ("*", 1, 1)
    api_key = _cli(monkeypatch, capsys, "operators", "link", "lanh.dao", "--api").strip()
    answer = httpx.get(f"{site.url}/ops/api/v1/stats", params={"period": "2023"},
                       headers={"Authorization": f"Bearer {api_key}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["reports"] == stats["reports"]
    refused = httpx.get(f"{site.url}/ops/api/v1/stats", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    # a dashboard link is no API key
    sign_in_token = signin.split("token=", 1)[1]
    wrong = httpx.get(f"{site.url}/ops/api/v1/stats",
                      headers={"Authorization": f"Bearer {sign_in_token}"}, timeout=10)  # fmt: skip
    assert wrong.status_code == 401

    # the periodic report holds the explanation and its answer
    out = tmp_path / "bao-cao-2023.docx"
    _cli(monkeypatch, capsys, "report", "periodic", "--period", "2023", "-o", str(out),
         "--as-of", "2023-12-08T12:00:00+07:00")  # fmt: skip
    document = Document(str(out))
    headings = [p.text for p in document.paragraphs]
    assert "Giải trình" in headings
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    assert "Đề nghị giải trình lý do chậm báo cáo năm 2023." in cells
    assert "Do thiếu cán bộ chuyên trách; đơn vị sẽ nộp trước 15/12/2023." in cells


def test_a_tampered_or_expired_link_is_refused_with_how_to_get_a_new_one(
    site: Site, browser: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chidao.webhook.operator_auth import operator_key, sign_token

    _cli(monkeypatch, capsys, "operators", "add", "can.bo", "--name", "Trần Thị Bộ",
         "--role", "consolidator")  # fmt: skip
    signin = _cli(monkeypatch, capsys, "operators", "link", "can.bo").strip()
    page, watch = _page(browser, viewport={"width": 1000, "height": 800})
    tampered = re.sub(r"token=(.)", lambda m: "token=" + ("A" if m.group(1) != "A" else "B"), signin)
    response = page.goto(tampered)
    assert response is not None and response.status == 401
    text = page.inner_text("body")
    assert "không hợp lệ" in text and "chidao operators link" in text
    expired = sign_token(operator_key(site.link_key), "can.bo", "dashboard",
                         dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))  # fmt: skip
    response = page.goto(f"{site.url}/ops/signin?token={expired}")
    assert response is not None and response.status == 401
    assert "hết hạn" in page.inner_text("body")
    _shot(page, "6-link-expired.png")
    # no cookie, no dashboard
    response = page.goto(f"{site.url}/ops/")
    assert response is not None and response.status == 401
    # a consolidator sees the dashboard but gets no statistics over the API
    page.goto(signin)
    assert urlsplit(page.url).path == "/ops/"
    # a filter that does not parse: said on the page, nothing else shown wrong
    response = page.goto(f"{site.url}/ops/?period=2023-13")
    assert response is not None and response.status == 422
    assert "'2023-13' không phải là một kỳ" in page.inner_text("[role=alert]")
    key = _cli(monkeypatch, capsys, "operators", "link", "can.bo", "--api").strip()
    answer = httpx.get(f"{site.url}/ops/api/v1/stats", headers={"Authorization": f"Bearer {key}"},
                       timeout=10)  # fmt: skip
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    # removed: the link that worked a moment ago no longer does
    _cli(monkeypatch, capsys, "operators", "remove", "can.bo", "--reason", "chuyển công tác")
    response = page.goto(f"{site.url}/ops/")
    assert response is not None and response.status == 401
    assert "không còn" in page.inner_text("body")
    # Chromium logs each refused page's own status as a console error; nothing else may be there
    refusals = re.compile(r"the server responded with a status of (401|422)")
    assert [e for e in watch.errors if not refusals.search(e)] == [] and watch.left == []
    # the tampered, the expired, no cookie, the bad period (422), the removed
    assert len(watch.errors) == 5
