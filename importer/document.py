"""Reading the national document format (Decree 30/2020/NĐ-CP) into an intermediate model.

The stages, each in its own module: `layout` (clean lines from text as it arrives), `segment`
(where header, address block, body, end and attachment are), `header` (number, symbol, date,
place, kind, subject, the issuer's lines), the scope (which place's agencies the names are —
the issuer's province, from `national`), `address` (recipients), `body` (sections and items),
`signature` (signer and distribution) and `duties` (reporting). A news report quoting a
directive gives a partial reading from its lead sentence (`news`).
"""

from __future__ import annotations

import re

from importer import address, body, duties, header, news, signature
from importer.agencies import AgencyMatcher, canonical, looks_like_agency, named_places
from importer.layout import prepare
from importer.model import (  # noqa: F401 - the reading's types, re-exported
    AgencyRef,
    Context,
    Duty,
    Found,
    ItemRead,
    ParsedDocument,
    SectionRead,
)
from importer.national import home_province, matcher_for
from importer.normalize import collapse_spaces, fold
from importer.places import District, Province, load_places
from importer.segment import segment

_NATIONAL_HEAD = re.compile(r"^\s*(?:bo\b|van phong chinh phu|chinh phu|thu tuong|uy ban dan toc|"
                            r"ngan hang nha nuoc|thanh tra chinh phu)")
_CHILD_HEAD = re.compile(r"^\s*(?:so|ban|phong|chi cuc|trung tam|van phong|thanh tra|cuc)\b")


def _damaged(text: str) -> bool:
    words = re.findall(r"[^\W\d_]{2,}", text)
    accented = sum(1 for w in words if not w.isascii())
    # Clean Vietnamese prose has diacritics on most words; OCR that lost them has few.
    return bool(words) and accented / len(words) < 0.35


def _scope_of(ctx: Context, block: str) -> tuple[Province | None, District | None, bool]:
    """The issuer's place: (province, district, national body)."""
    places = load_places()
    key = canonical(fold(block))
    if _NATIONAL_HEAD.match(key):
        return None, None, True
    tags = named_places(key)
    provinces = [places.provinces[t[2:]] for t in tags if t.startswith("p:")]
    district_keys = [tuple(t[2:].split(":", 1)) for t in tags if t.startswith("d:")]
    province = provinces[0] if len(provinces) == 1 else None
    district = None
    if district_keys and not re.search(r"\btinh\b", key):
        candidates = [d for kind, name in district_keys for d in places.district(province, name)
                      if d.kind_slug == kind]
        if len(candidates) > 1:  # the province the text names decides between namesakes
            named = named_places(canonical(ctx.t.key))
            candidates = [d for d in candidates if f"p:{d.province.key}" in named] or candidates
        if candidates:
            district = candidates[0]
            province = district.province
    if province is None and ctx.doc.place is not None:
        province = places.province(str(ctx.doc.place.value))
    return province, district, False


class DocumentReader:
    """Reads one text; `read()` returns the ParsedDocument."""

    def __init__(self, raw: str, matcher: AgencyMatcher) -> None:
        layout = prepare(raw)
        self.doc = ParsedDocument(lines=layout.lines, stray_lines=layout.stray_lines)
        self.ctx = Context(layout.lines, matcher, self.doc)
        self.damaged = _damaged(self.ctx.t.text)
        self.doc.damaged = self.damaged

    def read(self) -> ParsedDocument:
        ctx, doc = self.ctx, self.doc
        seg = segment(ctx.lines, ctx.keys)
        if seg.news:
            doc.news = True
            news.read_lead(ctx, self._scope)
            return doc
        header.read_number(ctx, seg.header_end)
        header.read_date(ctx, seg.header_end)
        block = header.issuer_block(ctx, seg.header_end)
        self._scope(" ".join(p for p, _ in block))
        self._issuer(block)
        subject_end = header.read_kind_subject(ctx, seg.header_end, seg.kinh_gui, self.damaged)
        body_start = subject_end
        if seg.kinh_gui is not None:
            body_start = address.read_kinh_gui(ctx, seg.kinh_gui)
        else:
            body_start = address.read_unlabelled(ctx, subject_end)
        body_end = seg.noi_nhan if seg.noi_nhan is not None else (
            seg.signature if seg.signature is not None else len(ctx.keys))
        if seg.attachment is not None:
            body.read_body(ctx, seg.attachment, len(ctx.keys))
        else:
            body.read_body(ctx, body_start, body_end)
        signature.read_tail(ctx, body_end, seg.attachment)
        if not doc.recipients and seg.noi_nhan is not None:
            address.from_distribution(ctx, seg.noi_nhan, seg.attachment or len(ctx.keys),
                                      (body_start, body_end))
        if not doc.recipients and doc.sections:
            address.from_sections(ctx)
        body.read_cited(ctx)
        duties.read_duties(ctx)
        return doc

    def _scope(self, block: str) -> None:
        """Match every name of the document against the agencies of the issuer's place."""
        ctx = self.ctx
        province, district, national = _scope_of(ctx, block)
        home = home_province(ctx.home)
        if national:
            ctx.matcher = matcher_for(ctx.home, None)
            self.doc.scope = "national"
            return
        if province is None:
            province = home
        ctx.matcher = matcher_for(ctx.home, province, district)
        if province is not None and (province != home or district is not None):
            parts = [d for d in (district,) if d is not None]
            ctx.place_slug = "-".join([*(d.slug for d in parts), province.slug])
            ctx.place_name = ", ".join([*(d.name for d in parts), province.name])
        self.doc.scope = ctx.place_name or (home.name if home else None)

    def _issuer(self, parts: list[tuple[str, int]]) -> None:
        ctx, doc = self.ctx, self.doc
        if parts:
            text = " ".join(p for p, _ in parts)
            candidates = [text]
            if len(parts) > 1 and _CHILD_HEAD.match(canonical(fold(parts[-1][0]))):
                candidates.insert(0, parts[-1][0])  # "UBND THÀNH PHỐ HÀ NỘI / SỞ GIÁO DỤC …"
            elif len(parts) > 1:
                candidates.append(" ".join(p for p, _ in parts[-2:]))
            for candidate in candidates:
                m = ctx.matcher.best(candidate)
                if m is not None and not m.is_group:
                    doc.issuer = AgencyRef(
                        m.id, m.name, parts[0][1], m.confidence,
                        f'matched "{collapse_spaces(candidate)}" → {m.id} ({m.name}) at {m.score:.0f}%',
                        new=m.new, place=m.place)
                    return
            if looks_like_agency(text):
                doc.issuer = ctx.proposal(parts[-1][0] if len(parts) > 1 else text, parts[0][1])
                return
        # No header block (a clean extract often starts at "Số:"): fall back to the symbol.
        if doc.symbol is not None:
            head = doc.symbol.value.split("-")[0]
            issuers = [a for a in ctx.home.directory.agencies if a.kind == "issuer"]
            if head == "UBND" and len(issuers) == 1 and not ctx.place_slug:
                a = issuers[0]
                doc.issuer = AgencyRef(
                    a.id, a.name, doc.symbol.line or 0, 0.6,
                    f'no issuer block; the symbol starts with "UBND", so {a.id} ({a.name}) assumed',
                )


def read_document(text: str, matcher: AgencyMatcher) -> ParsedDocument:
    reader = DocumentReader(text, matcher)
    doc = reader.read()
    doc.matcher = reader.ctx.matcher
    return doc
