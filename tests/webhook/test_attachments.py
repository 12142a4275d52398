"""Files attached to reports, through the signed API and the browser form, as an attacker would
try them: over the limit, of a type not allowed, with content that is not the declared type,
another agency's file asked for. Each is refused and nothing is stored; the genuine ones are
stored once by SHA-256, named in the event, and served back only to those allowed."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from docx import Document
from fastapi import FastAPI
from openpyxl import Workbook
from sqlalchemy import Engine, func, select

from chidao.webhook import SecretStore, create_app
from chidao.webhook.auth import secret_key_bytes
from chidao.webhook.uploads import DOCX, PDF, PNG, XLSX, sniff
from ledger.directives import Directives
from ledger.signatures import sign_headers
from ledger.store import EventStore
from ledger.tables import attachments
from notifications.links import sign_agency_link, sign_link
from tests.webhook.conftest import DIRECTIVE, Clock, Signer, Wakes, event_counts
from tests.webhook.test_form import KEY, later

pytestmark = pytest.mark.anyio

D = f"/v1/directives/{DIRECTIVE}"
REPORT_PATH = f"{D}/agencies/ubnd-ba-to/cycles/2023/report"
LIMIT = 50_000
PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def docx_bytes() -> bytes:
    out = io.BytesIO()
    document = Document()
    document.add_paragraph("Báo cáo kết quả thực hiện năm 2023 của huyện Ba Tơ")
    document.save(out)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    book = Workbook()
    book.active.append(["xã", "số lớp"])  # type: ignore[union-attr]
    book.save(out)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not an office document")
    return out.getvalue()


@pytest.fixture
def app(
    engine: Engine, secrets: SecretStore, clock: Clock, wakes: Wakes, agency_secrets: dict[str, str]
) -> FastAPI:
    return create_app(
        engine=engine,
        secrets=secrets,
        waker=wakes,
        clock=clock,
        max_body_bytes=200_000,
        link_key=KEY,
        max_attachment_bytes=LIMIT,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as c:
        yield c


def multipart(report: dict[str, Any], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart body built by httpx (as any client would): (body, content type)."""
    import json

    request = httpx.Request(
        "POST",
        "http://x/",
        data={"report": json.dumps(report, ensure_ascii=False)},
        files=[("file", (name, content, media)) for name, media, content in files],
    )
    body = request.read()
    return body, request.headers["content-type"]


async def post_files(
    signer: Signer, agency: str, path: str, report: dict[str, Any], files: list[tuple[str, str, bytes]]
) -> httpx.Response:
    body, content_type = multipart(report, files)
    headers = sign_headers(
        "POST", path, "", body, keyid=f"{agency}:hmac",
        key=secret_key_bytes(signer.secrets[agency]),
        alg="hmac-sha256", idempotency_key=uuid.uuid4().hex, content_type=content_type,
    )  # fmt: skip
    return await signer.client.post(path, content=body, headers=headers)


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(attachments)).scalar_one())


def reports(engine: Engine) -> list[Any]:
    return [
        e for e in Directives(EventStore(engine)).events(DIRECTIVE) if e.type == "ReportSubmitted"
    ]


def test_the_content_decides_the_type() -> None:
    assert sniff(PDF_BYTES) == PDF and sniff(PNG_BYTES) == PNG
    assert sniff(docx_bytes()) == DOCX and sniff(xlsx_bytes()) == XLSX
    assert sniff(plain_zip()) is None and sniff(b"MZ\x90\x00 an exe") is None


async def test_files_with_a_report_are_stored_once_and_named_in_the_event(
    signer: Signer, engine: Engine
) -> None:
    files = [
        ("báo cáo.pdf", "application/pdf", PDF_BYTES),
        ("số liệu.xlsx", XLSX, xlsx_bytes()),
        ("ảnh.png", "application/octet-stream", PNG_BYTES),  # undeclared: the content decides
        ("bản sao.pdf", "application/pdf", PDF_BYTES),  # the same bytes again
    ]
    response = await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"text": "Báo cáo năm 2023."}, files)
    assert response.status_code == 201, response.text
    [event] = reports(engine)
    assert event.schema_version == 2
    refs = event.payload["attachments"]
    assert [(r["name"], r["media_type"]) for r in refs] == [
        ("báo cáo.pdf", PDF), ("số liệu.xlsx", XLSX), ("ảnh.png", PNG), ("bản sao.pdf", PDF)
    ]  # fmt: skip
    assert refs[0]["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest() == refs[3]["sha256"]
    assert stored(engine) == 3  # content-addressed: the PDF once

    sha = refs[2]["sha256"]
    path = f"{D}/attachments/{sha}"
    for reader in ("ubnd-ba-to", "so-gddt", "ubnd-tinh"):  # itself, the consolidator, the issuer
        got = await signer.get(reader, path)
        assert got.status_code == 200, (reader, got.text)
        assert got.content == PNG_BYTES and got.headers["content-type"] == PNG
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("attachment")
    # another agency of the same directive: refused, and told nothing about the file
    other = await signer.get("ubnd-ly-son", path)
    assert other.status_code == 404 and sha in other.json()["detail"]
    # a file no report of this directive names (even one that is stored elsewhere): refused
    unknown = hashlib.sha256(b"x").hexdigest()
    assert (await signer.get("ubnd-ba-to", f"{D}/attachments/{unknown}")).status_code == 404
    # unsigned: refused at the gate
    assert (await signer.client.get(path)).status_code == 401


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ([("big.pdf", "application/pdf", PDF_BYTES + b"0" * LIMIT)], 413, "limit"),
        # two files each under the limit, over it together
        ([("a.pdf", PDF, PDF_BYTES + b"0" * 30_000), ("b.pdf", PDF, PDF_BYTES + b"1" * 30_000)], 413, "limit"),
        ([("report.pdf", "application/pdf", b"MZ\x90\x00 this is a program")], 422, "not a PDF"),
        ([("report.docx", DOCX, plain_zip())], 422, "not a PDF"),
        ([("report.pdf", "application/pdf", PNG_BYTES)], 422, "declared as application/pdf"),
        ([("sheet.xlsx", XLSX, docx_bytes())], 422, "its content is " + DOCX),
        ([("empty.pdf", "application/pdf", b"")], 422, "empty"),
        ([("page.html", "text/html", b"<html><script>alert(1)</script></html>")], 422, "not a PDF"),
    ],
)
async def test_a_bad_file_is_refused_and_nothing_is_stored(
    signer: Signer, engine: Engine, files: list[tuple[str, str, bytes]], status: int, words: str
) -> None:
    before = event_counts(engine)
    response = await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"text": "Báo cáo."}, files)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert stored(engine) == 0 and event_counts(engine) == before


async def test_a_body_over_both_limits_is_cut_at_the_gate(signer: Signer, engine: Engine) -> None:
    huge = [("x.pdf", PDF, PDF_BYTES + b"0" * (LIMIT + 200_000))]
    response = await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"text": "Báo cáo."}, huge)
    assert response.status_code == 413 and stored(engine) == 0
    # a JSON body is held to the JSON limit alone, not to the files' one beside it
    response = await signer.post("ubnd-ba-to", REPORT_PATH, {"text": "a" * 250_000})
    assert response.status_code == 413


async def test_a_refused_report_stores_none_of_its_files(signer: Signer, engine: Engine) -> None:
    files = [("báo cáo.pdf", PDF, PDF_BYTES)]
    # another agency's report: forbidden before anything is read into the ledger
    response = await post_files(signer, "ubnd-ly-son", REPORT_PATH, {"text": "x"}, files)
    assert response.status_code == 403
    # a cycle that does not exist: the lifecycle refuses, and the file is not kept
    missing = f"{D}/agencies/ubnd-ba-to/cycles/2099/report"
    response = await post_files(signer, "ubnd-ba-to", missing, {"text": "x"}, files)
    assert response.status_code == 404 and stored(engine) == 0
    # the JSON part missing or invalid: 422, nothing kept
    body_only = await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"txt": "x"}, files)
    assert body_only.status_code == 422 and stored(engine) == 0


# --- the browser form ----------------------------------------------------------------------


def form_body(token: str, text: str, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"token": token, "form_id": f"f-{uuid.uuid4().hex}", "cycle": "2023", "text": text},
        files=[("file", (name, content, media)) for name, media, content in files],
    )
    return request.read(), request.headers["content-type"]


async def test_the_form_takes_files_and_serves_them_back_behind_the_link(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    token = sign_agency_link(KEY, "ubnd-ba-to", later())
    body, content_type = form_body(token, "Báo cáo qua biểu mẫu.", [("bc.docx", DOCX, docx_bytes())])
    page = f"{D}/agencies/ubnd-ba-to"
    response = await client.post(f"{page}/form/report", content=body, headers={"content-type": content_type})
    assert response.status_code == 303, response.text
    [event] = reports(engine)
    [ref] = event.payload["attachments"]
    assert ref["name"] == "bc.docx" and ref["media_type"] == DOCX
    got = await client.get(f"{page}/attachments/{ref['sha256']}", params={"token": token})
    assert got.status_code == 200
    # the agency's page lists what it sent, linked behind its own link
    shown = (await client.get(page, params={"token": token})).text.replace("&amp;", "&")
    assert f"{page}/attachments/{ref['sha256']}?token=" in shown and "bc.docx" in shown
    assert hashlib.sha256(got.content).hexdigest() == ref["sha256"]
    # another agency's genuine link does not open Ba Tơ's file, on Ba Tơ's path or its own
    other = sign_link(KEY, DIRECTIVE, "ubnd-ly-son", later())
    assert (await client.get(f"{page}/attachments/{ref['sha256']}", params={"token": other})).status_code == 401
    theirs = f"{D}/agencies/ubnd-ly-son/attachments/{ref['sha256']}"
    assert (await client.get(theirs, params={"token": other})).status_code == 404
    # no token, or a tampered one: refused
    assert (await client.get(f"{page}/attachments/{ref['sha256']}")).status_code == 401
    assert (await client.get(f"{page}/attachments/{ref['sha256']}", params={"token": token[:-2] + "AA"})).status_code == 401


async def test_the_form_refuses_a_bad_file_and_stores_nothing(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    token = sign_link(KEY, DIRECTIVE, "ubnd-ba-to", later())
    before = event_counts(engine)
    body, content_type = form_body(token, "Báo cáo.", [("bc.pdf", PDF, PNG_BYTES)])
    response = await client.post(
        f"{D}/agencies/ubnd-ba-to/form/report", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 422
    assert "declared as application/pdf" in response.text
    assert stored(engine) == 0 and event_counts(engine) == before
    # a forged post without a genuine token: refused before its files are looked at
    body, content_type = form_body("nope", "Báo cáo.", [("bc.pdf", PDF, PDF_BYTES)])
    response = await client.post(
        f"{D}/agencies/ubnd-ba-to/form/report", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 401 and stored(engine) == 0


async def test_only_the_reports_take_the_files_limit(signer: Signer, engine: Engine) -> None:
    # a body between the JSON limit (200 kB) and JSON + files (250 kB): a long report in
    # Vietnamese (~195 kB of JSON) with a 45 kB file
    report = {
        "text": "ả" * 45_000,
        "figures": {f"số liệu {n}": "ơ" * 200 for n in range(100)},
    }
    files = [("a.pdf", PDF, PDF_BYTES + b"0" * 45_000)]
    body, _type = multipart(report, files)
    assert 200_000 < len(body) <= 200_000 + LIMIT
    # the report takes it
    response = await post_files(signer, "ubnd-ba-to", REPORT_PATH, report, files)
    assert response.status_code == 201, response.text
    assert stored(engine) == 1
    # a call that takes no files is held to the JSON limit alone, multipart or not
    path = f"{D}/agencies/ubnd-ly-son/acknowledge"
    response = await post_files(signer, "ubnd-ly-son", path, report, files)
    assert response.status_code == 413 and stored(engine) == 1


async def test_verify_finds_a_file_altered_or_gone(signer: Signer, engine: Engine) -> None:
    from sqlalchemy import delete, update

    from ledger.attachments import check

    files = [("a.pdf", PDF, PDF_BYTES), ("b.png", PNG, PNG_BYTES)]
    assert (await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"text": "x"}, files)).status_code == 201
    assert check(engine) == []
    pdf, png = hashlib.sha256(PDF_BYTES).hexdigest(), hashlib.sha256(PNG_BYTES).hexdigest()
    with engine.begin() as conn:
        conn.execute(update(attachments).where(attachments.c.sha256 == pdf).values(content=b"%PDF-forged"))
        conn.execute(delete(attachments).where(attachments.c.sha256 == png))
    problems = check(engine, DIRECTIVE)
    assert len(problems) == 2
    assert any(pdf in p and "altered" in p for p in problems)
    assert any(png in p and "not stored" in p for p in problems)


async def test_an_operator_saves_a_file_from_the_command_line(
    signer: Signer, engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from chidao.cli import main

    files = [("báo cáo.pdf", PDF, PDF_BYTES)]
    assert (await post_files(signer, "ubnd-ba-to", REPORT_PATH, {"text": "x"}, files)).status_code == 201
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("CHIDAO_LANG", "vi")
    out = tmp_path / "saved.pdf"
    sha = hashlib.sha256(PDF_BYTES).hexdigest()
    assert main(["attachment", DIRECTIVE, sha, "-o", str(out)]) == 0
    assert out.read_bytes() == PDF_BYTES and "application/pdf" in capsys.readouterr().out
    # a file no report of the directive names: refused, nothing written
    other = hashlib.sha256(b"other").hexdigest()
    assert main(["attachment", DIRECTIVE, other, "-o", str(tmp_path / "x.pdf")]) == 1
    assert "không báo cáo nào" in capsys.readouterr().err and not (tmp_path / "x.pdf").exists()


async def test_the_consolidated_report_carries_the_edited_draft(
    signer: Signer, client: httpx.AsyncClient, engine: Engine
) -> None:
    edited = docx_bytes()
    path = f"{D}/cycles/2023/consolidated"
    files = [("báo cáo tổng hợp.docx", DOCX, edited)]
    # only the consolidating department
    refused = await post_files(signer, "ubnd-ba-to", path, {"text": "x"}, files)
    assert refused.status_code == 403 and stored(engine) == 0
    response = await post_files(signer, "so-gddt", path, {"text": "Báo cáo tổng hợp năm 2023."}, files)
    assert response.status_code == 201, response.text
    [event] = [
        e for e in Directives(EventStore(engine)).events(DIRECTIVE)
        if e.type == "ConsolidatedReportSubmitted"
    ]  # fmt: skip
    assert event.schema_version == 2
    [ref] = event.payload["attachments"]
    assert ref["name"] == "báo cáo tổng hợp.docx" and ref["media_type"] == DOCX
    where = f"{D}/attachments/{ref['sha256']}"
    for reader, status in (("so-gddt", 200), ("ubnd-tinh", 200), ("ubnd-ba-to", 404)):
        assert (await signer.get(reader, where)).status_code == status, reader


async def test_the_form_takes_the_consolidated_report_with_its_file(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    token = sign_agency_link(KEY, "so-gddt", later())
    body, content_type = form_body(token, "Báo cáo tổng hợp qua biểu mẫu.", [("th.xlsx", XLSX, xlsx_bytes())])
    response = await client.post(
        f"{D}/agencies/so-gddt/form/consolidated", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 303, response.text
    assert event_counts(engine)["ConsolidatedReportSubmitted"] == 1 and stored(engine) == 1
    # an agency that does not consolidate: refused on its page, nothing stored
    ba_to = sign_agency_link(KEY, "ubnd-ba-to", later())
    body, content_type = form_body(ba_to, "x", [("th.pdf", PDF, PDF_BYTES)])
    response = await client.post(
        f"{D}/agencies/ubnd-ba-to/form/consolidated", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 403 and stored(engine) == 1
