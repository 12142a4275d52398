"""Files agencies attach to reports: checked by their content, never by their name.

`check(content, declared, name, limit)` returns a `ledger.attachments.Blob` (the bytes and
the type their content shows) or raises `AttachmentRefused` saying what is wrong: over the size
limit, empty, not one of the types allowed (PDF, DOCX, XLSX, PNG, JPEG), or content that does
not match the type the client declared. A DOCX or XLSX is a zip whose `[Content_Types].xml`
names the main part of a Word document or an Excel workbook (read with defusedxml, the member
bounded in size before it is read). `application/octet-stream` (what a browser sends for a type
it does not know) declares nothing; the content alone decides.
"""

from __future__ import annotations

import email.policy
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from urllib.parse import quote

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from starlette.responses import Response

from chidao.webhook.errors import WebhookError
from ledger.attachments import Blob
from lifecycle.events import ATTACHMENT_TYPES, AttachmentRef

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"
JPEG = "image/jpeg"
DEFAULT_LIMIT = 20 * 1024 * 1024  # bytes of attachments per request
MAX_FILES = 10
UNDECLARED = frozenset({"", "application/octet-stream"})
ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "application/x-pdf": PDF}
_MAIN_PART = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_CONTENT_TYPES_MAX = 256 * 1024
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class AttachmentRefused(WebhookError):
    """An attachment refused before anything is stored (422 `attachment_refused`)."""

    status_code = 422
    code = "attachment_refused"


class AttachmentTooLarge(AttachmentRefused):
    status_code = 413
    code = "payload_too_large"


def _ooxml(content: bytes) -> str | None:
    """DOCX or XLSX by the zip's declared main part; None for any other zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > _CONTENT_TYPES_MAX:
                return None
            raw = archive.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError):
        return None
    try:
        root = ElementTree.fromstring(raw)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return None
    found = {
        _MAIN_PART[element.get("ContentType", "")]
        for element in root.iter()
        if element.tag.endswith("Override") and element.get("ContentType", "") in _MAIN_PART
    }
    return found.pop() if len(found) == 1 else None


def sniff(content: bytes) -> str | None:
    """The allowed type `content` is, by its first bytes (and a zip's parts), or None."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _ooxml(content)
    return None


def clean_name(name: str | None, media_type: str) -> str:
    """The file name as kept in the event: NFC, no path, no control characters, ≤ 200 chars."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME.sub("_", text).strip(" .")
    if not text:
        text = "tep-dinh-kem." + {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", PNG: "png"}.get(
            media_type, "jpg"
        )
    return text[-200:]


def check(content: bytes, declared: str | None, name: str | None, limit: int) -> Blob:
    """The attachment as stored, or AttachmentRefused naming the file and what is wrong."""
    label = name or "?"
    if len(content) > limit:
        raise AttachmentTooLarge(f"attachment {label!r}: over the limit of {limit} bytes")
    if not content:
        raise AttachmentRefused(f"attachment {label!r}: the file is empty")
    found = sniff(content)
    if found is None or found not in ATTACHMENT_TYPES:
        raise AttachmentRefused(
            f"attachment {label!r}: not a PDF, DOCX, XLSX, PNG or JPEG file (judged by its content)"
        )
    said = (declared or "").split(";", 1)[0].strip().lower()
    said = ALIASES.get(said, said)
    if said not in UNDECLARED and said != found:
        raise AttachmentRefused(
            f"attachment {label!r}: declared as {said} but its content is {found}"
        )
    return Blob(content, found)


# --- multipart/form-data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    content: bytes


def _header_text(value: str | None) -> str | None:
    """A header parameter as the browser meant it (raw UTF-8 bytes, not RFC 2231)."""
    if value is None:
        return None
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")


def parse_multipart(content_type: str, body: bytes, *, max_parts: int = 40) -> list[Part]:
    """The parts of a multipart/form-data body (stdlib `email` parser), or AttachmentRefused."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or not message.get_boundary():
        raise AttachmentRefused("the body is not multipart/form-data with a boundary")
    raw_parts = message.get_payload()
    if not isinstance(raw_parts, list) or not raw_parts:
        raise AttachmentRefused("the multipart body has no parts")
    if len(raw_parts) > max_parts:
        raise AttachmentRefused(f"the multipart body has more than {max_parts} parts")
    parts = []
    for raw in raw_parts:
        if not isinstance(raw, Message):
            raise AttachmentRefused("a part of the body is not form-data")
        if raw.get_content_disposition() != "form-data":
            raise AttachmentRefused("a part of the body is not form-data")
        param = raw.get_param("name", header="content-disposition")
        name = _header_text(param if isinstance(param, str) else None)
        if not isinstance(name, str) or not name:
            raise AttachmentRefused("a part of the body has no name")
        filename = _header_text(raw.get_filename())
        data = raw.get_payload(decode=True)
        parts.append(
            Part(
                name=name,
                filename=filename,
                content_type=raw.get_content_type() if raw.get("content-type") else "",
                content=data if isinstance(data, bytes) else b"",
            )
        )
    return parts


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


FILE_FIELDS = frozenset({"file", "files", "attachment"})


def take_files(parts: list[Part], limit: int) -> tuple[list[Blob], tuple[AttachmentRef, ...]]:
    """The checked files among `parts` (fields `file`), at most `limit` bytes in all, and the
    references the report event keeps; AttachmentRefused at the first one wrong."""
    files = [p for p in parts if p.name in FILE_FIELDS and (p.filename or p.content)]
    if len(files) > MAX_FILES:
        raise AttachmentRefused(f"at most {MAX_FILES} attachments to one report")
    total = 0
    blobs: dict[str, Blob] = {}
    refs: list[AttachmentRef] = []
    for part in files:
        total += len(part.content)
        if total > limit:
            raise AttachmentTooLarge(
                f"the attachments are over the limit of {limit} bytes in all"
            )
        blob = check(part.content, part.content_type, part.filename, limit)
        blobs.setdefault(blob.sha256, blob)
        refs.append(
            AttachmentRef(
                sha256=blob.sha256,
                name=clean_name(part.filename, blob.media_type),
                media_type=blob.media_type,  # type: ignore[arg-type]
                size=len(blob.content),
            )
        )
    return list(blobs.values()), tuple(refs)


def attachment_refs(refs: tuple[AttachmentRef, ...]) -> list[dict[str, object]]:
    return [ref.model_dump(mode="json") for ref in refs]


def attachment_response(blob: Blob, sha256: str, name: str | None = None) -> Response:
    """The file as a download: its stored type, never sniffed or rendered by the browser."""
    filename = name or f"{sha256[:16]}"
    return Response(
        blob.content,
        media_type=blob.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Referrer-Policy": "no-referrer",
        },
    )
