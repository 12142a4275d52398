"""PDF of the reports, offline: Debian's chromium prints the self-contained HTML.

`to_pdf(html_text, path)` opens the page in headless Chromium through Playwright for Python
(`executable_path` = Debian's `/usr/bin/chromium`, never a downloaded browser), refuses every
request the page would make (the HTML is self-contained: nothing is fetched), and saves
`page.pdf()` in A4. `PdfUnavailable` says what is missing when chromium or Playwright is not
installed, so the CLI can tell the operator instead of failing half-way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class PdfUnavailable(RuntimeError):
    """No way to make a PDF here: what to install."""


def chromium_path(given: Path | None = None) -> Path:
    """The chromium executable to print with, or PdfUnavailable."""
    found = given or (CHROMIUM if CHROMIUM.exists() else None)
    if found is None:
        which = shutil.which("chromium")
        found = Path(which) if which else None
    if found is None or not found.exists():
        raise PdfUnavailable(
            "a PDF needs Debian's chromium (apt-get install chromium); write .html or .docx instead"
        )
    return found


def to_pdf(html_text: str, path: Path, chromium: Path | None = None) -> None:
    """Print `html_text` to the PDF file `path` (A4, backgrounds kept)."""
    executable = chromium_path(chromium)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise PdfUnavailable(
            "a PDF needs Playwright for Python (pip install playwright); "
            "write .html or .docx instead"
        ) from e
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(executable), args=FLAGS)
            try:
                page = browser.new_page()
                # self-contained: whatever the page would fetch is refused
                page.route("**/*", lambda route: route.abort())
                page.set_content(html_text, wait_until="load")
                page.pdf(path=str(path), format="A4", print_background=True,
                         margin={"top": "15mm", "bottom": "15mm", "left": "20mm", "right": "15mm"})  # fmt: skip
            finally:
                browser.close()
    except PlaywrightError as e:
        raise PdfUnavailable(f"chromium could not print the PDF: {e.message}") from e
