"""The embedded mail room: real SMTP (aiosmtpd) into a Maildir mode 0700, shown by the webhook's
page to loopback callers only, and plainly off when a real server is configured."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from chidao.webhook.mailroom import install_mailroom
from notifications.maildir import MailroomServer, read_messages
from notifications.mailer import MAIL_POLICY

LINK = "http://127.0.0.1:8765/v1/directives/qn-2810-ubnd-kgvx-2023/agencies/ubnd-ba-to?token=abc"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, subject: str, body: str) -> None:
    message = EmailMessage(policy=MAIL_POLICY)  # folded as chidao's mailer folds
    message["From"] = "chidao@ubnd.quangngai.example.gov.vn"
    message["To"] = "ubnd-ba-to@quangngai.example"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 20:30:00 +0000"
    message["Message-ID"] = "<test-1@chidao>"
    message.set_content(body)
    asyncio.run(
        aiosmtplib.send(
            message.as_bytes(),
            sender=str(message["From"]),
            recipients=[str(message["To"])],
            hostname="127.0.0.1",
            port=port,
        )
    )


class Served:
    """A FastAPI app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while not self.server.started:
            assert dt.datetime.now() < deadline, "uvicorn did not start"
            self.thread.join(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_messages_arrive_in_a_private_maildir_and_the_page_shows_them(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "mailroom"
    server = MailroomServer(folder, _free_port()).start()
    try:
        _send(server.port, "[2810/UBND-KGVX] Nhắc hạn báo cáo kết quả năm 2023", f"Mở: {LINK}\n")
    finally:
        server.stop()
    assert folder.stat().st_mode & 0o777 == 0o700
    for sub in ("tmp", "new", "cur"):
        assert (folder / sub).stat().st_mode & 0o777 == 0o700
    [stored] = read_messages(folder)
    assert stored.subject == "[2810/UBND-KGVX] Nhắc hạn báo cáo kết quả năm 2023"

    app = FastAPI()
    install_mailroom(app, folder=folder)
    with Served(app) as base:
        listing = httpx.get(f"{base}/mailroom", timeout=10)
        assert listing.status_code == 200
        assert "Hộp thư nội bộ" in listing.text and "CHIDAO_SMTP_" in listing.text
        assert "Nhắc hạn báo cáo kết quả năm 2023" in listing.text
        assert "02/12/2026 03:30" in listing.text  # 20:30 UTC, read in Vietnam
        page = httpx.get(f"{base}/mailroom/{stored.key}", timeout=10)
        assert page.status_code == 200
        assert f'<a href="{LINK.replace("&", "&amp;")}">' in page.text  # the link works
        assert httpx.get(f"{base}/mailroom/..%2Fetc", timeout=10).status_code == 404
        assert httpx.get(f"{base}/mailroom/nope", timeout=10).status_code == 404


def test_the_page_is_off_once_a_real_server_is_configured(tmp_path: Path) -> None:
    app = FastAPI()
    install_mailroom(app, folder=None)
    with Served(app) as base:
        answer = httpx.get(f"{base}/mailroom", timeout=10)
    assert answer.status_code == 404
    assert "đang tắt" in answer.text and "CHIDAO_SMTP_" in answer.text


@pytest.mark.anyio
async def test_only_loopback_callers_see_it(tmp_path: Path) -> None:
    folder = tmp_path / "mailroom"
    server = MailroomServer(folder, _free_port()).start()
    try:
        await asyncio.to_thread(_send, server.port, "Bí mật", f"{LINK}\n")
    finally:
        server.stop()
    app = FastAPI()
    install_mailroom(app, folder=folder)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://chidao") as client:
        answer = await client.get("/mailroom")
        key = read_messages(folder)[0].key
        one = await client.get(f"/mailroom/{key}")
    assert answer.status_code == 403 and one.status_code == 403
    assert "Bí mật" not in answer.text + one.text and "token" not in one.text
