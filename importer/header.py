"""Stage: the header block — issuer, number and symbol, place and date, kind and subject.

Detection runs on folded keys (`S6:2810/UBND-KGVX`, `Qudng Ngai, ngay 20 thang 6 nam 2023` still
read), values come from the cleaned text. Two-column headers merged into one line are taken apart
by the motto and the `Số:`/date markers. A date that lost its month or day is restored only from
another statement of the same date in the text (a portal's "Ngày ban hành", a second date line);
otherwise it stays None and the draft says why.
"""

from __future__ import annotations

import datetime as dt
import re

from rapidfuzz import fuzz, process

from importer.model import Context, Found
from importer.normalize import collapse_spaces, fold, squash

KINDS = {
    "cong van": "Công văn", "chi thi": "Chỉ thị", "ke hoach": "Kế hoạch",
    "quyet dinh": "Quyết định", "thong bao": "Thông báo", "cong dien": "Công điện",
    "nghi quyet": "Nghị quyết", "ket luan": "Kết luận", "thong tu": "Thông tư",
    "nghi dinh": "Nghị định", "luat": "Luật", "huong dan": "Hướng dẫn", "de an": "Đề án",
    "chuong trinh": "Chương trình", "bao cao": "Báo cáo", "to trinh": "Tờ trình",
}
NUMBER = re.compile(
    r"^\s*(s\w{0,2}\s*[:.;]|s[oố]\s+(?=\d{1,6}\s*/))\s*(\d{1,6})\s*(/)?\s*"
    r"((?:(?:19|20)\d\d\s*/\s*)?)([a-z0-9đ][a-z0-9đ&\-]*)",
    re.I,
)
DATE = re.compile(r"ng\w{1,2}y\s+(\d{1,2})\s+th\w{1,3}ng\s+(\d{1,2})\s+n\w{1,2}m\s+(\d{4})")
_DATE_NO_MONTH = re.compile(r"ng\w{1,2}y\s+(\d{1,2})\s+th\w{1,3}ng\s+n\w{1,2}m\s+(\d{4})")
_DATE_NO_DAY = re.compile(r"ng\w{1,2}y\s+th\w{1,3}ng\s+(\d{1,2})\s+n\w{1,2}m\s+(\d{4})")
_ISSUED_META = re.compile(
    r"(?:ngay\s+ban\s+hanh|ban\s+hanh\s+ngay|ngay\s+ky)\s*:?\s*(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})"
)
_MOTTO = (r"c\w{1,2}ng\s+h\w{1,2}a\s+x", r"\w{0,2}\w?c\s+l\w{1,2}p\s*-", r"\bt\w\s+do\s*-")
# Symbols whose issuer part was misprinted: the letters of "UBND" in another order, and such.
_MISPRINTS = {"UNBD": "UBND", "UBDN": "UBND", "UBNĐ": "UBND", "UBMD": "UBND", "UNND": "UBND"}


def make_date(day: str, month: str, year: str | None) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day)) if year else None
    except ValueError:
        return None


def read_number(ctx: Context, end: int) -> None:
    doc = ctx.doc
    for i in range(min(end + 1, len(ctx.keys))):
        m = NUMBER.search(ctx.lines[i])
        if not m or not fold(m.group(1)).startswith("s"):
            continue
        prefix_ok = fold(m.group(1)).rstrip(" :") == "so"
        symbol = m.group(5).upper().strip("-")
        conf, notes = 0.95, []
        if not prefix_ok:
            conf -= 0.1
            notes.append(f'"{m.group(1).strip()}" read as "Số:"')
        if not m.group(3):
            conf -= 0.2
            notes.append("the slash between number and symbol is missing")
        if m.group(4):
            notes.append(f"the year {m.group(4).strip(' /')} in the number is the year of issue")
        head = symbol.split("-")[0]
        number_conf = conf
        if head in _MISPRINTS:
            notes.append(f'the text prints "{symbol}": "{head}" read as "{_MISPRINTS[head]}"')
            symbol, conf = _MISPRINTS[head] + symbol[len(head):], min(conf, 0.6)
        if not re.fullmatch(r"[A-ZĐ0-9&-]+", symbol):
            conf -= 0.2
        doc.number = Found(int(m.group(2)), i + 1, round(number_conf, 2),
                           "; ".join(n for n in notes if "prints" not in n))
        doc.symbol = Found(symbol, i + 1, round(conf, 2), "; ".join(notes))
        return


def read_date(ctx: Context, end: int) -> None:
    """The date of issue, in the header; a missing month restored only from the text itself."""
    doc = ctx.doc
    for i in range(min(end + 1, len(ctx.keys))):
        key = ctx.keys[i]
        d = DATE.search(key)
        if d:
            day = make_date(d.group(1), d.group(2), d.group(3))
            if day is not None:
                sure = "ngay" in key[d.start() : d.start() + 4] and "nam" in key
                doc.issued_on = Found(day, i + 1, 0.95 if sure else 0.85)
                read_place(ctx, i, d.start())
                return
        partial = _DATE_NO_MONTH.search(key)
        no_day = None if partial else _DATE_NO_DAY.search(key)
        if partial or no_day:
            if partial:
                missing, restored = "month", _restore(ctx, int(partial.group(1)), None,
                                                      int(partial.group(2)), i)
            else:
                assert no_day is not None
                partial, missing = no_day, "day"
                restored = _restore(ctx, None, int(no_day.group(1)), int(no_day.group(2)), i)
            read_place(ctx, i, partial.start())
            if restored is not None:
                doc.issued_on = restored
            else:
                doc.notes.append(
                    f"line {i + 1}: the date of issue has no {missing} "
                    f'("{ctx.lines[i][partial.start():partial.end()].strip()}") and the text '
                    "gives it nowhere else"
                )
            return


def _restore(ctx: Context, day: int | None, month: int | None, year: int, at: int) -> Found | None:
    """The same date stated whole elsewhere (a portal's line, another date line), agreeing on
    every part this one kept."""
    for i, key in enumerate(ctx.keys):
        if i == at:
            continue
        lines = [m for m in DATE.finditer(key) if m.start() < 40 and not re.search(
            r"\b(?:truoc|den|tu|sau)\s*$", key[: m.start()])] if abs(i - at) < 4 else []
        for m in [*_ISSUED_META.finditer(key), *lines]:
            found = make_date(m.group(1), m.group(2), m.group(3))
            if found is None or found.year != year or (day is not None and found.day != day):
                continue
            if month is not None and found.month != month:
                continue
            lost = "month" if month is None else "day"
            return Found(found, at + 1, 0.9,
                         f"the {lost} is missing here; line {i + 1} gives the whole date")
    return None


def read_place(ctx: Context, index: int, date_at: int) -> None:
    from importer.places import load_places

    doc, line = ctx.doc, ctx.lines[index]
    head = line[:date_at].rstrip(" ,")
    if doc.number is not None and doc.number.line == index + 1:
        m = NUMBER.search(line)
        if m:
            head = line[m.end() : date_at].rstrip(" ,")
    head = re.split(r"\s{2,}", head.strip())[-1]  # the right column of a two-column line
    head = collapse_spaces(head.strip(" ,-*"))
    for pattern in _MOTTO:
        cut = re.search(pattern, fold(head))
        if cut:
            head = head[: cut.start()].strip()
    words = head.split()
    # the place is the last capitalised words before the date ("… giáo dục Hà Nội, ngày")
    k = len(words)
    while k > 0 and words[k - 1][:1].isupper() and len(words) - k < 4:
        k -= 1
    head = " ".join(words[k:]) if k < len(words) else head
    if not head:
        return
    places = load_places()
    names = [p.name for p in places.provinces.values()]
    names += [d.name for ds in places.districts.values() for d in ds]
    if places.province(head) is not None:
        place = places.province(head).name  # type: ignore[union-attr]
        doc.place = Found(place, index + 1, 0.95 if head == place else 0.9,
                          "" if head == place else f'text says "{head}"')
        return
    if places.district(None, head):
        doc.place = Found(places.district(None, head)[0].name if head.isascii() else head,
                          index + 1, 0.9)
        return
    found = process.extractOne(fold(head), [fold(n) for n in names], scorer=fuzz.ratio,
                               score_cutoff=75)
    if found is not None:
        doc.place = Found(names[found[2]], index + 1, round(found[1] / 100, 2), f'text says "{head}"')
    else:
        doc.place = Found(head, index + 1, 0.5, "not a place name the importer knows")


def _upper_run(text: str) -> str:
    """The words in capitals that end `text` (`Trang chủ > … VĂN PHÒNG CHÍNH PHỦ` → the office)."""
    words = text.split()
    k = len(words)
    while k > 0:
        letters = [c for c in words[k - 1] if c.isalpha()]
        if not letters or not all(c.isupper() for c in letters):
            break
        k -= 1
    run = " ".join(words[k:])
    letters = [c for c in run if c.isalpha()]
    return run if len(letters) >= 3 else ""


def issuer_block(ctx: Context, end: int) -> list[tuple[str, int]]:
    """The issuer's lines (the left column above `Số:`), without the motto beside them."""
    parts: list[tuple[str, int]] = []
    limit = ctx.doc.number.line - 1 if ctx.doc.number and ctx.doc.number.line else min(end, 8)
    for i in range(min(limit + 1, len(ctx.keys), 12)):
        line, key = ctx.lines[i], ctx.keys[i]
        if not line.strip():
            continue
        cut = len(line)
        for pattern in _MOTTO:
            motto = re.search(pattern, key)
            if motto:
                cut = min(cut, motto.start())
        if ctx.doc.number is not None and i + 1 == ctx.doc.number.line:
            cut = min(cut, NUMBER.search(line).start() if NUMBER.search(line) else cut)  # type: ignore[union-attr]
        left = _upper_run(line[:cut].strip(" -"))
        if left:
            parts.append((left, i + 1))
        elif parts and line[:cut].strip():
            break
    return parts


def read_kind_subject(ctx: Context, header_end: int, kinh_gui: int | None, damaged: bool) -> int:
    doc = ctx.doc
    start = None
    for i in range(min(header_end, len(ctx.keys))):
        key = ctx.keys[i].strip()
        if re.match(r"^v\s*/\s*v\b", key):
            start = i
            doc.kind = Found("Công văn", i + 1, 0.8, 'a "V/v" subject line is the form of a công văn')
            break
        title = squash(key)
        if title in KINDS and title != "bao cao":
            doc.kind = Found(KINDS[title], i + 1, 0.9)
            j = i + 1
            while j < len(ctx.keys) and not ctx.lines[j].strip():
                j += 1
            start = j
            break
    if start is None:
        return (kinh_gui + 1) if kinh_gui is not None else 0
    stop = kinh_gui if kinh_gui is not None else len(ctx.keys)
    words: list[str] = []
    i = start
    blank_run = 0
    while i < stop:
        line = ctx.lines[i].strip()
        key = ctx.keys[i].strip()
        if not line:
            blank_run += 1
            if kinh_gui is None and words:
                break
            if blank_run > 2 and words:
                break
        elif words and (line[:1] in "-+•" or re.match(r"^(?:can cu|thuc hien|xet)\b", key)
                        or (line.isupper() and len(words) > 0 and doc.kind and doc.kind.value != "Công văn")):
            break
        else:
            blank_run = 0
            if doc.issued_on is not None and i + 1 == doc.issued_on.line:
                d = DATE.search(ctx.keys[i]) or _DATE_NO_MONTH.search(ctx.keys[i]) or _DATE_NO_DAY.search(ctx.keys[i])
                left = ctx.lines[i][: d.start()] if d else ""
                left = re.split(r"\s{2,}", left.strip())[0] if "  " in left.strip() else ""
                if left.strip():
                    words.append(left.strip())
                if kinh_gui is None or not left.strip():
                    if words:
                        i += 1
                        break
            elif _DATE_NO_MONTH.search(key) or _DATE_NO_DAY.search(key) or DATE.search(key):
                if words:
                    i += 1
                    break
            else:
                words.append(line)
        i += 1
    if words:
        text = collapse_spaces(" ".join(words))
        doc.subject = Found(
            text, start + 1, 0.7 if damaged else 0.9,
            "OCR text, diacritics not restored" if damaged else "",
        )
    return i
