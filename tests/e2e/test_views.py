"""What the agencies and the department read, in a real browser: an agency's inbox page, the
consolidated report's draft (as HTML) and a directive's timeline.

The webhook runs under uvicorn on a loopback port over a ledger with 2810 and 5185 issued and
two reports in; headless Chromium (Debian's `/usr/bin/chromium` through Playwright for Python)
opens each page. Every request not to 127.0.0.1 (or the timeline's own file) is aborted and
recorded, and the test asserts none was made; console errors fail it. Vietnamese diacritics
must render as glyphs, not as the "missing glyph" box: each is drawn on a canvas in the page's
font and compared with a character no font has. Screenshots go to `test-artifacts/e2e-views/`
(gitignored); the inbox is also shot at a phone's width.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet

from tests.flows.test_up import REPO
from tests.webhook.test_form import KEY, later
from tests.webhook.test_inbox_page import D5185, issue_5185_and_reports

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "e2e-views"
D2810 = "qn-2810-ubnd-kgvx-2023"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Drawn on a canvas in the page's font: each must differ from the missing-glyph box.
DIACRITICS = "ảạăằẳẵặâầẩẫậđẻẽẹêềểễệỉĩịỏọôồổỗộơờởỡợủũụưừửữựỳỷỹỵĐƠƯ"
GLYPH_CHECK = """(chars) => {
  const font = getComputedStyle(document.body).fontSize + ' ' + getComputedStyle(document.body).fontFamily;
  const draw = (c) => {
    const canvas = document.createElement('canvas'); canvas.width = 40; canvas.height = 40;
    const g = canvas.getContext('2d'); g.font = font; g.fillStyle = '#000'; g.fillText(c, 5, 30);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(',');
  };
  const box = draw('\\uE000');
  return Array.from(chars).filter((c) => draw(c) === box || draw(c) === draw(' '));
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of the webhook under uvicorn on 127.0.0.1, clock 20/11/2023."""
    import uvicorn

    from chidao.webhook import SecretStore, create_app
    from ledger.db import ensure_schema, make_engine
    from tests.lifecycle.helpers import at
    from tests.webhook.conftest import issue_2810

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    issue_2810(engine)
    issue_5185_and_reports(engine)
    app = create_app(
        engine=engine,
        secrets=SecretStore(engine, Fernet.generate_key()),
        clock=lambda: at(2023, 11, 20),
        link_key=KEY,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _until(lambda: server.started, 30, "uvicorn started")
        yield f"http://127.0.0.1:{port}", url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


class Watch:
    """A page's console errors and the requests that would have left the machine."""

    def __init__(self, page: Any, allowed: tuple[str, ...]) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.allowed = allowed
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "about") or url.startswith(self.allowed) or (
            parts.scheme in ("http", "https") and parts.hostname == "127.0.0.1"
        ):
            route.continue_()
            return
        self.outside.append(url)
        route.abort()

    def clean(self) -> None:
        assert self.outside == [], f"requests that would leave the machine: {self.outside}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_inbox_draft_and_timeline_in_a_browser(
    served: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    from chidao.cli import main
    from notifications.links import sign_agency_link

    base, database_url = served
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    ly_son = sign_agency_link(KEY, "ubnd-ly-son", later())
    so_gddt = sign_agency_link(KEY, "so-gddt", later())

    # the timeline, written by the CLI over the same ledger
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", database_url)
    monkeypatch.setenv("CHIDAO_LANG", "vi")
    timeline = tmp_path / "tien-do.html"
    assert main(["timeline", D2810, "--as-of", "2023-12-10T12:00:00+07:00", "-o", str(timeline)]) == 0

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            # --- the inbox, as Lý Sơn opens it from its mail
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="vi-VN")
            watch = Watch(page, (base,))
            page.goto(f"{base}/v1/agencies/ubnd-ly-son?token={ly_son}#d-{D2810}", wait_until="load")
            page.get_by_role("heading", name="Việc cần làm: Ủy ban nhân dân huyện Lý Sơn").wait_for()
            sections = page.locator("section.directive")
            assert sections.count() == 2
            # the overdue directive (5185, its report due 15/11/2021) comes first, in red
            assert sections.nth(0).get_attribute("id") == f"d-{D5185}"
            first_row = sections.nth(0).locator("tr.overdue").first
            assert "15/11/2021" in first_row.inner_text() and "quá hạn" in first_row.inner_text()
            color = first_row.locator("td").first.evaluate("e => getComputedStyle(e).color")
            assert color == "rgb(139, 0, 0)"
            assert page.evaluate(GLYPH_CHECK, DIACRITICS) == []
            page.screenshot(path=str(SHOTS / "1-inbox.png"), full_page=True)
            # the same page on a phone: no sideways scrolling
            page.set_viewport_size({"width": 375, "height": 800})
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, width
            page.screenshot(path=str(SHOTS / "2-inbox-phone.png"), full_page=True)
            # answering from the inbox: the report of 2810 with a file, back to the inbox
            page.set_viewport_size({"width": 1100, "height": 900})
            form = sections.nth(1).locator("form[action$='/form/report']")
            form.locator("textarea").fill("Huyện Lý Sơn báo cáo kết quả năm 2023.")
            form.locator("input[type=file]").set_input_files(
                files=[{"name": "bao-cao.pdf", "mimeType": "application/pdf",
                        "buffer": b"%PDF-1.4\n%%EOF\n"}]
            )
            form.locator("button[type=submit]").click()
            page.wait_for_url(f"{base}/v1/agencies/ubnd-ly-son?**")
            page.get_by_text("Đã ghi nhận").first.wait_for()
            page.screenshot(path=str(SHOTS / "3-inbox-answered.png"), full_page=True)
            watch.clean()
            page.close()

            # --- the consolidated report's draft, as Sở GD&ĐT opens it
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="vi-VN")
            watch = Watch(page, (base,))
            draft = f"{base}/v1/directives/{D2810}/agencies/so-gddt/draft/2023.html?token={so_gddt}"
            page.goto(draft, wait_until="load")
            body = page.inner_text("body")
            assert "BÁO CÁO" in body and "Kết quả thực hiện Công văn số 2810/UBND-KGVX" in body
            assert "Huyện Ba Tơ đã tổ chức tuyên truyền ở 19 xã, thị trấn." in body
            assert "Huyện Lý Sơn báo cáo kết quả năm 2023." in body  # the one just sent
            assert "Các cơ quan chưa báo cáo" in body
            assert page.evaluate(GLYPH_CHECK, DIACRITICS) == []
            page.screenshot(path=str(SHOTS / "4-draft.png"), full_page=True)
            watch.clean()
            page.close()

            # --- the timeline, from its file
            page = browser.new_page(viewport={"width": 1300, "height": 900}, locale="vi-VN")
            watch = Watch(page, (timeline.as_uri(),))
            page.goto(timeline.as_uri(), wait_until="load")
            assert page.locator("svg g.bar").count() >= 16
            assert "Tiến độ thực hiện Công văn số 2810/UBND-KGVX" in page.inner_text("h1")
            # Lý Sơn's row: its late span after 30/11/2023 is drawn (red)
            late = page.locator('svg g.bar[data-agency="ubnd-ly-son"] rect.late')
            assert late.count() == 1 and late.get_attribute("fill") == "#c0392b"
            assert page.evaluate(GLYPH_CHECK, DIACRITICS) == []
            page.screenshot(path=str(SHOTS / "5-timeline.png"), full_page=True)
            watch.clean()
        finally:
            browser.close()
