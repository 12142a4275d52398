"""The embedded mail room's page: the messages `chidao up` kept because no SMTP server is set.

When `chidao up` runs its own SMTP server (no `CHIDAO_SMTP_*` setting), it hands the webhook
the Maildir in `CHIDAO_MAILROOM_DIR`, and `/mailroom` lists what arrived there, each message
readable at `/mailroom/{key}` with its links working, as a real mailbox would show them. It
answers loopback callers only (403 for any other address, whatever the host the webhook was
bound to), and says plainly when it is off: as soon as a real server is configured, mail
goes there and this page shows nothing.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from chidao.webhook.form import HEADERS
from definitions.calendar import TIMEZONE
from notifications.maildir import MailroomError, read_message, read_messages

PATH = "/mailroom"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_URL = re.compile(r"https?://[^\s<>\"')]+")
_KEY = re.compile(r"^[A-Za-z0-9._:,-]{1,200}$")


def _linked(text: str) -> Markup:
    """The text, escaped, with its http(s) links made clickable."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def _when(moment: dt.datetime | None) -> str:
    """A time as people here read it: dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(TIMEZONE).strftime("%d/%m/%Y %H:%M")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["linked"] = _linked
    env.filters["when"] = _when
    return env


def install_mailroom(app: FastAPI, *, folder: Path | None) -> None:
    """Add `/mailroom` and `/mailroom/{key}` to `app`; `folder` None means a real server is set."""
    env = _environment()

    def page(template: str, status: int, **context: Any) -> HTMLResponse:
        rendered = env.get_template(template).render(lang="vi", folder=folder, **context)
        return HTMLResponse(
            unicodedata.normalize("NFC", rendered), status_code=status, headers=HEADERS
        )

    def refused(request: Request) -> HTMLResponse | None:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            return page("mailroom.html", 403, state="remote", messages=[])
        if folder is None:
            return page("mailroom.html", 404, state="off", messages=[])
        return None

    @app.get(PATH, include_in_schema=False)
    async def mailroom(request: Request) -> HTMLResponse:
        answer = refused(request)
        if answer is not None:
            return answer
        assert folder is not None
        try:
            messages = await run_in_threadpool(read_messages, folder)
        except MailroomError:
            messages = []
        return page("mailroom.html", 200, state="on", messages=messages)

    @app.get(PATH + "/{key}", include_in_schema=False)
    async def mailroom_message(request: Request, key: str) -> HTMLResponse:
        answer = refused(request)
        if answer is not None:
            return answer
        assert folder is not None
        found = None
        if _KEY.match(key):
            try:
                found = await run_in_threadpool(read_message, folder, key)
            except MailroomError:
                found = None
        if found is None:
            return page("mailroom.html", 404, state="missing", messages=[])
        return page("mailroom_message.html", 200, message=found)
