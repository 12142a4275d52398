"""What an operator sees on the first day, in a real browser: `chidao up --demo` on ports of its
own, in a fresh home, with no mail server configured.

Headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright for Python) opens the
Prefect UI's runs page and the demo's status artifact, the embedded mail room, a demo mail and
the form its link opens, and answers on that form; the answer is recorded in the ledger and
wakes a run of the directive. Screenshots go to `test-artifacts/e2e/` (gitignored).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.flows.test_up import REPO, ChidaoUp

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "e2e"
DEMO_ID = "demo-qn-2810-ubnd-kgvx-2023"
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
DEMO_SECONDS = 420.0


def _browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)


def _ledger_events(home: Path) -> list[Any]:
    from ledger.db import make_engine
    from ledger.directives import Directives
    from ledger.store import EventStore

    engine = make_engine(f"sqlite:///{home / 'chidao.db'}")
    try:
        return list(Directives(EventStore(engine)).events(DEMO_ID))
    finally:
        engine.dispose()


def _first_run(api_url: str) -> dict[str, Any]:
    """The demo's first run (its issuance), from the Prefect API."""
    found = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={"flow_runs": {"tags": {"all_": [f"directive:{DEMO_ID}"]}}, "sort": "START_TIME_ASC", "limit": 1},
        timeout=10,
    ).json()
    return dict(found[0])


def _task_run_names(api_url: str, flow_run_id: str) -> list[str]:
    found = httpx.post(
        f"{api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200},
        timeout=10,
    ).json()
    return [str(t["name"]) for t in found]


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_first_day_in_a_browser(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    # a shared machine can take minutes to start a Prefect server: a bounded wait, not a sleep
    with ChidaoUp(
        tmp_path, extra_args=("--demo",), embedded_mail=True, start_seconds=240
    ) as up:
        home = Path(up.env["CHIDAO_HOME"])
        assert up.port != 4200 and up.webhook_port != 8765
        # the UI's own settings point its browser at this server, not at port 4200
        ui_settings = httpx.get(f"{up.ui_url}/ui-settings", timeout=10).json()
        assert ui_settings["api_url"] == up.api_url
        mailroom_line = up.wait_for_line("mail room:", 5)
        assert f"{up.webhook_url}/mailroom" in mailroom_line
        up.wait_for_line("demo: done", DEMO_SECONDS)
        assert (home / "mailroom").stat().st_mode & 0o777 == 0o700

        with playwright_api.sync_playwright() as playwright:
            browser = _browser(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="vi-VN")

            # the runs page: the demo's runs, named for people, in Vietnamese
            page.goto(f"{up.ui_url}/runs", wait_until="networkidle")
            page.get_by_text(re.compile(r"2810/UBND-KGVX · 2023 · nhắc hạn · \d\d/\d\d/2023")).first.wait_for(timeout=30_000)
            body = page.inner_text("body")
            assert f"directive:{DEMO_ID}" in body
            assert "Can't connect to Server API" not in body
            page.screenshot(path=str(SHOTS / "1-runs.png"))

            # a run with its task runs: the run graph, and the task runs' Vietnamese names
            first_run = _first_run(up.api_url)
            page.goto(f"{up.ui_url}/runs/flow-run/{first_run['id']}", wait_until="networkidle")
            page.get_by_text(first_run["name"]).first.wait_for(timeout=30_000)
            page.screenshot(path=str(SHOTS / "1b-run-graph.png"))
            names = _task_run_names(up.api_url, first_run["id"])
            assert any(n.startswith("giao nhiệm vụ · ") for n in names), names

            # the status artifact: the table of the closed 2023 cycle, with the Vietnamese standings
            page.goto(f"{up.ui_url}/artifacts/key/{DEMO_ID}-2023-status", wait_until="networkidle")
            page.get_by_text(f"{DEMO_ID}-2023-status").first.wait_for(timeout=30_000)
            page.locator("a[href*='/artifacts/artifact/']").first.click()
            page.get_by_text("hoàn thành", exact=False).first.wait_for(timeout=30_000)
            table = page.inner_text("body")
            assert "Ủy ban nhân dân" in table or "UBND" in table
            page.screenshot(path=str(SHOTS / "2-status-artifact.png"), full_page=True)

            # the embedded mail room, which says what it is
            page.goto(f"{up.webhook_url}/mailroom", wait_until="load")
            assert "Hộp thư nội bộ" in page.inner_text("h1")
            assert "CHIDAO_SMTP_" in page.inner_text("body")
            page.screenshot(path=str(SHOTS / "3-mailroom.png"), full_page=False)

            # a demo mail with a form link to a tracked agency, and the form it opens
            links = page.locator("a[href^='/mailroom/']")
            assert links.count() > 10
            opened = None
            for index in range(links.count()):
                page.goto(f"{up.webhook_url}/mailroom", wait_until="load")
                page.locator("a[href^='/mailroom/']").nth(index).click()
                # each mail to a tracked agency links to its inbox page (its open work on every
                # directive, with the forms), at this directive's entries
                form_link = page.locator(f"a[href*='/v1/agencies/'][href*='token='][href$='#d-{DEMO_ID}']")
                if form_link.count():
                    opened = form_link.first.get_attribute("href")
                    break
            assert opened is not None, "no demo mail holds a form link"
            page.screenshot(path=str(SHOTS / "4-mail.png"), full_page=True)
            agency = re.search(r"/agencies/([a-z0-9-]+)", opened)
            assert agency is not None
            page.locator(f"a[href='{opened}']").first.click()
            page.wait_for_load_state("load")
            assert "Không tìm thấy" not in page.inner_text("body")
            page.locator("form[action*='/form/report'] textarea[name=text]").first.wait_for(timeout=10_000)
            page.screenshot(path=str(SHOTS / "5-form.png"), full_page=True)

            before = len(_ledger_events(home))
            report_form = page.locator("form[action*='/form/report']").first
            report_form.locator("textarea[name=text]").fill("Báo cáo kết quả qua trình duyệt.")
            report_form.locator("button[type=submit]").click()
            page.wait_for_load_state("load")
            page.screenshot(path=str(SHOTS / "6-form-answered.png"), full_page=True)

            # recorded in the ledger, as the agency, and it wakes a run named by the pattern
            recorded = _until(
                lambda: [
                    e
                    for e in _ledger_events(home)[before:]
                    if e.type == "ReportSubmitted" and e.payload.get("agency") == agency.group(1)
                ],
                30,
                "the report from the form in the ledger",
            )
            assert recorded[0].actor == agency.group(1)
            page.goto(f"{up.ui_url}/runs", wait_until="networkidle")
            page.get_by_text(re.compile(r"2810/UBND-KGVX · \d{4} · cơ quan phản hồi · \d\d/\d\d/20(2[4-9]|[3-9]\d)")).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SHOTS / "7-runs-after-answer.png"))
            browser.close()
    assert sorted(p.name for p in SHOTS.glob("*.png")) == [
        "1-runs.png",
        "1b-run-graph.png",
        "2-status-artifact.png",
        "3-mailroom.png",
        "4-mail.png",
        "5-form.png",
        "6-form-answered.png",
        "7-runs-after-answer.png",
    ]
