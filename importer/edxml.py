"""edXML messages of the national document exchange (QCVN 102:2016): envelope and attachment.

The envelope's header fields win over the text; the body comes from the first attachment that
carries text (text/plain, DOCX, or a PDF with a text layer). XML is parsed with defusedxml and
any DTD refused, so entity expansion and external entities end in a clear error, not a hang.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from importer.errors import HostileInput, ImportFailed, NeedsOcr

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # decoded size of one attachment
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # the whole message as read from disk


@dataclass
class Envelope:
    code_number: int | None = None
    code_notation: str | None = None
    place: str | None = None
    promulgation_date: dt.date | None = None
    type_name: str | None = None
    subject: str | None = None
    competence: str | None = None
    position: str | None = None
    full_name: str | None = None
    due_date: dt.date | None = None
    from_organ: str | None = None
    to_organs: list[str] = field(default_factory=list)
    to_places: list[str] = field(default_factory=list)


@dataclass
class Message:
    envelope: Envelope
    body: str
    attachment_name: str


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1].split(":")[-1]


def _child(node: Element, name: str) -> Element | None:
    for child in node:
        if _local(child.tag) == name:
            return child
    return None


def _text(node: Element | None, *path: str) -> str | None:
    for name in path:
        if node is None:
            return None
        node = _child(node, name)
    if node is None or node.text is None:
        return None
    value = " ".join(node.text.split())
    return value or None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value.strip())
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def looks_like_xml(raw: bytes) -> bool:
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") or head.startswith(b"<edXML") or head.startswith(b"<!DOCTYPE")


def parse_message(raw: bytes) -> Message:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise HostileInput(f"the edXML message is over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise HostileInput(
            "the XML declares a DTD or entities, which an edXML message never needs; refused"
        ) from e
    except ParseError as e:
        raise ImportFailed(f"not well-formed XML: {e}") from e
    header = None
    for node in root.iter():
        if _local(node.tag) == "MessageHeader":
            header = node
            break
    if header is None:
        raise ImportFailed("this XML is not an edXML message: it has no MessageHeader")
    env = Envelope()
    number = _text(header, "Code", "CodeNumber")
    env.code_number = int(number) if number and number.isdigit() else None
    env.code_notation = _text(header, "Code", "CodeNotation")
    env.place = _text(header, "PromulgationInfo", "Place")
    env.promulgation_date = _date(_text(header, "PromulgationInfo", "PromulgationDate"))
    env.type_name = _text(header, "DocumentType", "TypeName")
    env.subject = _text(header, "Subject")
    env.competence = _text(header, "SignerInfo", "Competence")
    env.position = _text(header, "SignerInfo", "Position")
    env.full_name = _text(header, "SignerInfo", "FullName")
    env.due_date = _date(_text(header, "DueDate"))
    env.from_organ = _text(header, "From", "OrganName")
    for child in header:
        if _local(child.tag) == "To":
            name = _text(child, "OrganName")
            if name:
                env.to_organs.append(name)
    places = _child(header, "ToPlaces")
    if places is not None:
        env.to_places = [" ".join((p.text or "").split()) for p in places if (p.text or "").strip()]
    body, name = _attachment_text(root)
    return Message(env, body, name)


def _attachment_text(root: Element) -> tuple[str, str]:
    attachments = [n for n in root.iter() if _local(n.tag) == "Attachment"]
    if not attachments:
        raise ImportFailed("the edXML message has no attachment with the document's text")
    refusals: list[ImportFailed] = []
    for node in attachments:
        name = _text(node, "AttachmentName") or _text(node, "ContentId") or "attachment"
        ctype = (_text(node, "ContentType") or "application/octet-stream").lower()
        encoded = None
        for child in node.iter():
            if _local(child.tag) == "ContentTransferEncoded":
                encoded = child.text or ""
        if encoded is None:
            continue
        if len(encoded) > MAX_ATTACHMENT_BYTES * 4 // 3 + 4096:
            raise HostileInput(
                f"attachment {name} is over {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB; refused"
            )
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ImportFailed(f"attachment {name} is not valid base64") from e
        try:
            return attachment_to_text(data, ctype, name), name
        except NeedsOcr as e:
            refusals.append(e)
    if refusals:
        raise refusals[0]
    raise ImportFailed("the edXML message has no attachment content")


def attachment_to_text(data: bytes, content_type: str, name: str) -> str:
    """The text of one attachment, by its content type or, failing that, its first bytes."""
    kind = content_type.split(";")[0].strip()
    lower = name.lower()
    if kind.startswith("image/") or data[:8].startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")):
        raise NeedsOcr(f"{name} is a scanned image; run it through OCR first and import the text")
    if data.startswith(b"%PDF") or kind == "application/pdf" or lower.endswith(".pdf"):
        return pdf_text(data, name)
    if data.startswith(b"PK\x03\x04") or "wordprocessingml" in kind or lower.endswith(".docx"):
        return docx_text(data, name)
    charset = "utf-8"
    m = re.search(r"charset=([\w-]+)", content_type)
    if m:
        charset = m.group(1)
    return decode_text(data, name, charset)


def decode_text(data: bytes, name: str, charset: str = "utf-8") -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        charset = "utf-16"
    try:
        text = data.decode(charset)
    except (UnicodeDecodeError, LookupError) as e:
        raise ImportFailed(
            f"{name} is not {charset} text (convert it to UTF-8 first): {e}".splitlines()[0]
        ) from e
    return text.removeprefix("\ufeff")


def pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:200]]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise ImportFailed(f"{name}: unreadable PDF ({e})") from e
    text = "\n".join(pages)
    if len(re.sub(r"\s", "", text)) < 40:
        raise NeedsOcr(f"{name} is a PDF without a text layer (a scan); run it through OCR first")
    return text


def docx_text(data: bytes, name: str) -> str:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = Document(io.BytesIO(data))
    except Exception as e:  # python-docx raises many kinds on a broken package
        raise ImportFailed(f"{name}: unreadable DOCX ({type(e).__name__})") from e
    lines: list[str] = []
    # Official documents put the header (issuer | motto, number | date) in a table: read the
    # body in order, a table row as one line with its cells side by side.
    for block in document.element.body.iterchildren():
        tag = _local(block.tag)
        if tag == "p":
            lines.append(Paragraph(block, document).text)
        elif tag == "tbl":
            for row in Table(block, document).rows:
                cells = [c.text.replace("\n", " ").strip() for c in row.cells]
                lines.append("   ".join(c for c in cells if c))
    return "\n".join(lines)
