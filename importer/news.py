"""Stage for a news report that quotes a directive without its header.

From the lead sentence ("Thủ tướng Chính phủ vừa ký ban hành Chỉ thị số 19/CT-TTg ngày 15/6/2023
về …", "Ngày 12/4/2024, UBND tỉnh Quảng Ngãi ban hành Công văn số 1960/UBND-KTN về việc …"): the
kind, number, symbol, date, issuer and subject. Everything else — recipients, sections, signer —
is left for the draft to mark TODO: a partial draft, not a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from importer.header import KINDS, make_date
from importer.model import AgencyRef, Context, Found
from importer.normalize import collapse_spaces

_LEAD = re.compile(
    r"(?P<who>[^.,;]{3,80}?)\s+(?:vua\s+|da\s+)?(?:ky\s+)?(?:ban\s+hanh|ky)\s+"
    r"(?P<kind>chi\s+thi|cong\s+van|quyet\s+dinh|ke\s+hoach|thong\s+bao|cong\s+dien|nghi\s+quyet)"
    r"\s+so\s+(?P<num>\d{1,6})\s*/\s*(?P<sym>[a-z0-9d][a-z0-9d&\-]*)"
    r"(?:\s+ngay\s+(?P<d>\d{1,2})\s*/\s*(?P<m>\d{1,2})\s*/\s*(?P<y>\d{4}))?"
    r"(?:\s*,?\s+(?P<ve>ve\s+viec|ve)\s+)?"
)
_DATE_BEFORE = re.compile(r"ngay\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})\s*,?\s*$")
_NOTE = "read from a news report's lead sentence"


def read_lead(ctx: Context, scope: Callable[[str], None]) -> None:
    doc, text, key = ctx.doc, ctx.t.text, ctx.t.key
    m = _LEAD.search(key)
    if m is None:
        return
    line = ctx.t.line_of(m.start("num"))
    kind = KINDS[re.sub(r"\s+", " ", m.group("kind"))]
    doc.kind = Found(kind, line, 0.9, _NOTE)
    doc.number = Found(int(m.group("num")), line, 0.9, _NOTE)
    doc.symbol = Found(text[m.start("sym") : m.end("sym")].upper(), line, 0.9, _NOTE)
    who = text[m.start("who") : m.end("who")].strip()
    before = _DATE_BEFORE.search(key[max(0, m.start("who") - 30) : m.start("who")])
    if m.group("y"):
        day = make_date(m.group("d"), m.group("m"), m.group("y"))
    elif before:
        day = make_date(before.group(1), before.group(2), before.group(3))
    else:
        day = None
    if day is not None:
        doc.issued_on = Found(day, line, 0.9, _NOTE)
    who = re.sub(r"^.*?\)\s*-\s*", "", who)  # "(Chinhphu.vn) - Thủ tướng …"
    who = re.sub(r"^[\w.]+\.vn\s*-\s*", "", who, flags=re.I)
    scope(who)
    found = ctx.matcher.best(who)
    if found is not None and not found.is_group:
        doc.issuer = AgencyRef(found.id, found.name, line, found.confidence,
                               f'"{who}" in the lead sentence', new=found.new, place=found.place)
    if m.group("ve"):
        rest = text[m.end() :]
        end = re.search(r"\.(?:\s|$)", rest)
        words = collapse_spaces(rest[: end.start() if end else 200])
        prefix = "V/v " if kind == "Công văn" else "Về "
        doc.subject = Found(prefix + words, line, 0.9, _NOTE)
    doc.notes.append("a news report quoting the directive: only its lead sentence was read")
