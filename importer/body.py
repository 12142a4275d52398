"""Stage: the body — numbered sections, their lettered items, the preamble and the closing.

The national format numbers work `1.`, `2.` (lettered `a)`, `b)`, `-`); a plan groups it in
Roman-numeral parts (`I.`, `II.`) with nested `1.1`; a decision in articles (`Điều 1.`). When a
plan has a part "TỔ CHỨC THỰC HIỆN", the sections given to agencies are that part's.
"""

from __future__ import annotations

import re

from importer.agencies import looks_like_agency
from importer.model import AgencyRef, Context, Found, ItemRead, SectionRead
from importer.normalize import collapse_spaces, fold, squash

# The Vietnamese item letters in order (the definition format's ITEM_LETTERS, first part).
LETTERS = ("a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n")
PHRASES = {"giao": "Giao", "de nghi": "Đề nghị", "yeu cau": "Yêu cầu",
           "chiu trach nhiem": "chịu trách nhiệm", "chu tri": "chủ trì"}
SECTION = re.compile(r"^\s*(\d{1,2})\s*[.)]\s*(\S.*)$")
ROMAN = re.compile(r"^\s*(I|II|III|IV|V|VI|VII|VIII|IX|X)\s*[.)]\s+(\S.*)$")
ARTICLE = re.compile(r"^\s*[ĐDdđ]i\w{1,2}u\s+(\d{1,2})\s*[.:]\s*(\S.*)$")
_ITEM = re.compile(r"^\s*([a-zđp])\s*\)\s*(.*)$")
_ITEM_DOT = re.compile(r"^\s*([a-zđ])\s*\.\s+(\S.*)$")
_HEAD_PREFIX = re.compile(r"^\s*(giao|de nghi|yeu cau)\b[\s,:]*")
_HEAD_SUFFIX = re.compile(r"^\s*(chiu trach nhiem|chu tri)\b")
_COORD = re.compile(r"ph\w{1,2}i\s+h\w{1,2}p\s+(?:ch\w{1,2}t\s+ch\w{1,2}\s+)?v\w{1,2}i\s+")
_CLOSING_CUES = re.compile(
    r"^\s*(?:yeu cau|can cu|de nghi|trong qua trinh|nhan duoc|cac so|thu truong|giao|"
    r"ubnd tinh|uy ban nhan dan tinh|chu tich|dinh ky|hang nam|hang quy|tren day|"
    r"cac co quan|cac don vi)\b"
)
_CARRY_OUT = re.compile(r"\bt\w{1,3}\s+ch\w{1,2}c\s+th\w{1,2}c\s+hi\w{1,2}n\b|\btrach nhiem thuc hien\b")
_CITED = re.compile(
    r"\b(\w+(?:\s+\w+)?)\s+(?:so\s*:?\s+)?(\d{1,5}[/\-][a-z0-9d][a-z0-9d/\-]*)"
    r"\s+ng\w{1,2}y\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})"
)
_CITED_ISSUER = re.compile(
    r"^\s*c\w{1,3}\s+(.{3,80}?)(?=\s+(?:ve|tai|nham|da|ve viec|quy dinh|trong|kinh gui)\b|[,;.(]|\n\s*\n|$)", re.S
)


def _before_cue(text: str) -> str:
    """The words of a heading before its task begins (`… chủ trì, …`, `…:`)."""
    key = fold(text)
    m = re.search(r"\s(?:chiu trach nhiem|chu tri|phoi hop|thuc hien|to chuc)\b|[,:;]", key)
    return text[: m.start()] if m else text


def _restore_phrase(key: str, original: str) -> str:
    return PHRASES.get(squash(key), original)


def work_range(ctx: Context, start: int, end: int) -> tuple[int, int]:
    """Where the numbered work is: a plan's part "TỔ CHỨC THỰC HIỆN", else the whole body."""
    parts = [i for i in range(start, end) if ROMAN.match(ctx.lines[i])]
    for k, i in enumerate(parts):
        if _CARRY_OUT.search(ctx.keys[i]):
            return i + 1, parts[k + 1] if k + 1 < len(parts) else end
    return start, end


def read_body(ctx: Context, start: int, end: int) -> None:
    doc = ctx.doc
    work_start, work_end = work_range(ctx, start, end)
    expected = 1
    marks: list[tuple[int, int]] = []  # (line index, section number)
    for i in range(work_start, work_end):
        m = SECTION.match(ctx.lines[i])
        if m and int(m.group(1)) == expected and not re.match(r"^\s*\d{1,2}\.\d", ctx.lines[i]):
            marks.append((i, expected))
            expected += 1
    pre_end = marks[0][0] if marks else work_end
    if not marks:
        doc.notes.append("no numbered sections found")
    body_end = closing_start(ctx, marks[-1][0] if marks else work_start, work_end)
    pre = paragraphs(ctx, start, pre_end if work_start == start else min(pre_end, work_start))
    if pre:
        doc.preamble = Found("\n".join(pre), start + 1, 0.8)
    for k, (i, number) in enumerate(marks):
        stop = marks[k + 1][0] if k + 1 < len(marks) else body_end
        doc.sections.append(read_section(ctx, i, stop, number))
    if body_end < work_end:
        text = "\n".join(paragraphs(ctx, body_end, work_end))
        if text:
            doc.closing = Found(text, body_end + 1, 0.7,
                                "where the last item ends and the closing begins is a reading")


def paragraphs(ctx: Context, start: int, end: int) -> list[str]:
    paras: list[str] = []
    current: list[str] = []
    for i in range(start, end):
        line = ctx.lines[i].strip()
        if line:
            current.append(line)
        elif current:
            paras.append(" ".join(current))
            current = []
    if current:
        paras.append(" ".join(current))
    # OCR breaks paragraphs mid-sentence: rejoin a paragraph that does not end a sentence
    joined: list[str] = []
    for p in paras:
        if joined and not re.search(r"[.;:!?…”\"]$|\./\.$", joined[-1]) and p[:1].islower():
            joined[-1] += " " + p
        else:
            joined.append(p)
    return [collapse_spaces(p) for p in joined]


def closing_start(ctx: Context, last_section: int, end: int) -> int:
    """The line where the closing paragraph begins, after the last section's items."""
    prev_end_char = ""
    for i in range(last_section + 1, end):
        line = ctx.lines[i].strip()
        if not line:
            continue
        starts_para = i == 0 or not ctx.lines[i - 1].strip()
        if (starts_para and prev_end_char in ".;" and line[:1].isupper()
                and not _ITEM.match(line) and _CLOSING_CUES.match(ctx.keys[i].strip())):
            return i
        prev_end_char = line[-1:]
    return end


def read_section(ctx: Context, i: int, stop: int, number: int) -> SectionRead:
    m = SECTION.match(ctx.lines[i])
    assert m is not None
    first = m.group(2)
    colon = first.find(":")
    heading_raw = first[:colon] if colon >= 0 else first
    after_colon = first[colon + 1 :].strip() if colon >= 0 else ""
    heading, role, agencies, h_conf, h_note, tail = read_heading(ctx, heading_raw, i + 1)
    items: list[ItemRead] = []
    item_marks: list[tuple[int, str, float, str]] = []
    pos = 0
    for j in range(i + 1, stop):
        line = ctx.lines[j]
        im = _ITEM.match(line) or _ITEM_DOT.match(line)
        if not im or pos >= len(LETTERS):
            continue
        letter, expected = im.group(1), LETTERS[pos]
        conf, note = 0.95, ""
        if letter != expected:
            if expected == "đ" and letter in ("d", "p") and pos > 0:
                conf, note = 0.8, f'"{letter})" after "d)" read as "đ)" (OCR)'
            elif letter == "p" and expected == "d":
                conf, note = 0.8, '"p)" read as "d)" (OCR)'
            else:
                continue
        item_marks.append((j, expected, conf, note))
        pos += 1
    text_end = item_marks[0][0] if item_marks else stop
    own = [after_colon] if after_colon else []
    if tail and not after_colon and not item_marks:
        own = [tail]
    own += paragraphs(ctx, i + 1, text_end)
    section_text = collapse_spaces(" ".join(own)) or None
    if not item_marks and not section_text:
        section_text = collapse_spaces(first)
    for k, (j, letter, conf, note) in enumerate(item_marks):
        end = item_marks[k + 1][0] if k + 1 < len(item_marks) else stop
        im = _ITEM.match(ctx.lines[j]) or _ITEM_DOT.match(ctx.lines[j])
        assert im is not None
        body = collapse_spaces(" ".join([im.group(2), *paragraphs(ctx, j + 1, end)]))
        item = ItemRead(letter, body, j + 1, conf, note)
        item.coordinate_with = coordinates(ctx, body, j + 1, {a.id for a in agencies})
        items.append(item)
    return SectionRead(number, i + 1, heading, h_conf, h_note, role, agencies,
                       section_text if not items or after_colon else None, items, stop)


def read_heading(
    ctx: Context, raw: str, line: int
) -> tuple[str, str, list[AgencyRef], float, str, str]:
    key = fold(raw)
    role = "lead"
    out = raw
    prefix_text = ""
    rest = raw
    pm = _HEAD_PREFIX.match(key)
    if pm:
        prefix_text = _restore_phrase(pm.group(1), raw[: pm.end(1)])
        if squash(pm.group(1)) == "de nghi":
            role = "requested"
        rest = raw[pm.end() :]
    refs, _ = ctx.refs_from_list(rest, line, whole=False)
    tail = ""
    suffix_text = ""
    sm = None
    if refs:
        result = ctx.matcher.read_list(rest)
        after = rest[result.end :]
        sm = _HEAD_SUFFIX.match(fold(after))
        if sm:
            suffix_text = _restore_phrase(sm.group(1), after[: sm.end()])
            tail = after[sm.end() :].strip(" ,:")
        else:
            tail = after.strip(" ,:")
            if tail and looks_like_agency(tail):
                refs.append(ctx.proposal(tail, line))
                tail = ""
        # rebuild the heading from the directory's proper names, keeping the separators
        pieces: list[str] = []
        cursor = 0
        for m in result.matches:
            pieces.append(rest[cursor : m.start])
            pieces.append(m.text if not m.synonym else rest[m.start : m.end])
            cursor = m.end
        names = "".join(pieces).strip()
        out = " ".join(p for p in (prefix_text, names, suffix_text) if p)
        if tail and not sm:
            out = collapse_spaces(raw)
    elif looks_like_agency(_before_cue(rest)):
        refs = [ctx.proposal(_before_cue(rest), line)]
        out = collapse_spaces(raw)
    else:
        out = collapse_spaces(raw)
    conf = min([r.confidence for r in refs] or [0.3])
    note = "; ".join(r.note for r in refs if r.confidence < 0.92 or r.new)
    if not refs:
        note = "could not tell which agency this section is given to"
    return collapse_spaces(out), role, refs, conf, note, tail


def coordinates(ctx: Context, body: str, line: int, own: set[str]) -> list[AgencyRef]:
    key = fold(body)
    found: list[AgencyRef] = []
    for m in _COORD.finditer(key):
        clause_start = max(key.rfind(";", 0, m.start()), key.rfind(".", 0, m.start()))
        clause = key[clause_start + 1 : m.start()]
        if re.search(r"\bchi dao\b|\bhuong dan\b", clause) and not re.search(r"\bchu tri\b", clause):
            continue  # someone else's coordination ("chỉ đạo các cơ sở … phối hợp với …")
        refs, _ = ctx.refs_from_list(body[m.end() :], line, whole=False)
        for ref in refs:
            if ref.id not in own and ref.id not in {f.id for f in found}:
                found.append(ref)
    return found


def read_cited(ctx: Context) -> None:
    from rapidfuzz import fuzz, process

    from importer.header import KINDS, make_date

    doc = ctx.doc
    own_line = doc.number.line if doc.number else None
    seen: set[str] = set()
    kinds = list(KINDS)
    for m in _CITED.finditer(ctx.t.key):
        line = ctx.t.line_of(m.start(2))
        if line == own_line:
            continue
        words = m.group(1).split()
        kind_key = " ".join(words[-2:]) if len(words) > 1 else words[0]
        best = process.extractOne(kind_key, kinds, scorer=fuzz.ratio, score_cutoff=70)
        if best is None and len(words) > 1:
            best = process.extractOne(words[-1], kinds, scorer=fuzz.ratio, score_cutoff=80)
        if best is None:
            continue
        number = ctx.t.text[m.start(2) : m.end(2)].rstrip("/-")
        if number in seen or (doc.number and doc.symbol and
                              number == f"{doc.number.value}/{doc.symbol.value}"):
            continue
        day = make_date(m.group(3), m.group(4), m.group(5))
        if day is None:
            continue
        seen.add(number)
        cited: dict[str, object] = {"kind": KINDS[best[0]], "number": number, "issued_on": day}
        im = _CITED_ISSUER.match(ctx.t.key[m.end() : m.end() + 120])
        if im:
            start = m.end() + im.start(1)
            issuer = collapse_spaces(ctx.t.text[start : m.end() + im.end(1)])
            if issuer and issuer[0].isupper():
                cited["issuer"] = issuer
        damaged = not ctx.t.text[m.start() : m.end()].replace(" ", "").isascii() or best[1] < 100
        doc.cited.append(Found(cited, line, 0.8 if damaged else 0.9))
