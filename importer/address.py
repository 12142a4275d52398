"""Stage: to whom the document is addressed.

In order of what the text gives: the `Kính gửi:` block; the same dash lines under the subject
when the label was lost; for a decision, the people its executing article charges ("Như Điều
3"); for a plan, the `Nơi nhận` entries that are not readers (`b/c`), the issuer's own leaders or
the archive; last, the agencies the sections are given to. People stand for the bodies they head
(`Giám đốc Sở …`, `Chủ tịch UBND …`); `các sở: A, B` names each department.
"""

from __future__ import annotations

import re

from importer.agencies import looks_like_agency
from importer.body import ARTICLE
from importer.model import AgencyRef, Context
from importer.normalize import fold, squash

_SO_LIST = re.compile(r"\bc\w{1,2}c\s+s\w{1,2}\s*:\s*")
_READERS = re.compile(
    r"\b(?:b\s*/\s*c|bao\s+cao|de\s+biet|luu)\b|^\s*(?:ct|pct|cac pct|chu tich|tt|ttr|thuong truc|"
    r"lanh dao|vpub|vpcp|cvp|pcvp|bo truong|thu tuong|cong bao|cong thong tin|website)\b"
)
_LIKE_ARTICLE = re.compile(r"^\s*nh\w{1,2}\s+[dđ]i\w{1,2}u\s+(\d{1,2})")


def expand_departments(text: str) -> str:
    """`các sở: Kế hoạch và Đầu tư, Tài chính` → `Sở Kế hoạch và Đầu tư, Sở Tài chính`."""
    m = _SO_LIST.search(fold(text))
    if not m:
        return text
    # commas only: "và" is inside the fields' own names (Kế hoạch và Đầu tư, Giáo dục và Đào tạo)
    names = [n.strip() for n in text[m.end() :].split(",") if n.strip()]
    return text[: m.start()] + ", ".join(f"Sở {n}" for n in names)


def _entry_refs(ctx: Context, text: str, line_no: int) -> list[AgencyRef]:
    text = expand_departments(text.strip().lstrip("-+•").strip().rstrip(";.,"))
    if not text:
        return []
    refs, rest = ctx.refs_from_list(text, line_no, whole=True)
    if rest and looks_like_agency(rest):
        refs.append(ctx.proposal(rest, line_no))
    elif rest and not refs:
        refs.append(ctx.proposal(_without_title(rest), line_no))
    return refs


def _without_title(text: str) -> str:
    m = re.match(r"^\s*(?:th\w{1,2}\s+tr\w{1,3}ng|gi\w{1,2}m\s+[dđ]\w{1,2}c|ch\w{1,2}\s+t\w{1,2}ch|"
                 r"hi\w{1,2}u\s+tr\w{1,3}ng)\s+", fold(text))
    return text[m.end() :] if m else text


def read_kinh_gui(ctx: Context, kinh_gui: int) -> int:
    """The `Kính gửi` block; returns the line index where the body begins."""
    line = ctx.lines[kinh_gui]
    m = re.match(r"^\s*\S+\s+\S+\s*:?\s*", line)
    first = line[m.end() :] if m else ""
    entries: list[tuple[str, int]] = []
    if first.strip():
        entries.append((first, kinh_gui + 1))
    i = kinh_gui + 1
    while i < len(ctx.keys):
        text = ctx.lines[i].strip()
        if not text:
            i += 1
            if entries and i < len(ctx.keys) and ctx.lines[i].strip()[:1] not in "-+•":
                break
            continue
        if text[:1] in "-+•" or not entries:
            entries.append((text, i + 1))
            i += 1
            continue
        break
    for text, line_no in entries:
        ctx.doc.recipients.extend(_entry_refs(ctx, text, line_no))
    return i


def read_unlabelled(ctx: Context, start: int) -> int:
    """Dash lines under the subject that all name agencies: the address block without its label."""
    i = start
    while i < len(ctx.lines) and not ctx.lines[i].strip():
        i += 1
    entries: list[tuple[str, int]] = []
    while i < len(ctx.lines) and ctx.lines[i].strip()[:1] in ("-", "+", "•"):
        entries.append((ctx.lines[i], i + 1))
        i += 1
    if not entries:
        return start
    refs: list[AgencyRef] = []
    for text, line_no in entries:
        got = _entry_refs(ctx, text, line_no)
        if not got or any(r.new and r.confidence < 0.9 for r in got):
            return start
        refs.extend(got)
    for r in refs:
        r.note = (r.note + "; " if r.note else "") + "an address block without its “Kính gửi” label"
    ctx.doc.recipients.extend(refs)
    return i


def from_article(ctx: Context, number: int, start: int, end: int) -> bool:
    """The people an article (`Điều 3. Chánh Văn phòng …, Giám đốc Sở … chịu trách nhiệm thi hành`) charges."""
    for i in range(start, end):
        m = ARTICLE.match(ctx.lines[i])
        if not m or int(m.group(1)) != number:
            continue
        text = " ".join(ctx.lines[j].strip() for j in range(i, end) if ctx.lines[j].strip())
        text = text[m.start(2) :]
        refs, _ = ctx.refs_from_list(text, i + 1, whole=False)
        if refs:
            for r in refs:
                r.note = (r.note + "; " if r.note else "") + f"charged by Điều {number} (“Như Điều {number}”)"
            ctx.doc.recipients.extend(refs)
            return True
    return False


def from_distribution(ctx: Context, start: int, end: int, body: tuple[int, int]) -> bool:
    """Recipients of a document without `Kính gửi` from its `Nơi nhận`."""
    entries: list[tuple[str, int]] = []
    for i in range(start, end):
        text = ctx.lines[i].strip()
        if text[:1] not in ("-", "+", "•"):
            continue
        item = re.split(r";|\.(?=\s|$)", text.lstrip("-+•").strip())[0].strip()
        key = fold(item)
        like = _LIKE_ARTICLE.match(key)
        if like:
            return from_article(ctx, int(like.group(1)), *body)
        if not item or squash(key) == "nhu tren" or _READERS.search(key):
            continue
        entries.append((item, i + 1))
    refs: list[AgencyRef] = []
    for item, line_no in entries:
        refs.extend(_entry_refs(ctx, item, line_no))
    for r in refs:
        r.note = (r.note + "; " if r.note else "") + "no “Kính gửi”: taken from “Nơi nhận”"
    ctx.doc.recipients.extend(refs)
    return bool(refs)


def from_sections(ctx: Context) -> None:
    seen: set[str] = set()
    for section in ctx.doc.sections:
        for ref in section.agencies:
            if ref.id not in seen:
                seen.add(ref.id)
                ctx.doc.recipients.append(AgencyRef(
                    ref.id, ref.text, ref.line, min(ref.confidence, 0.6),
                    "no “Kính gửi” in the text: taken from the section headings",
                    ref.is_group, ref.new, ref.place,
                ))
