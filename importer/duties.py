"""Stage: reporting and consolidation duties — who reports to whom, by when, how often.

Deadlines as the texts state them: a date (`trước ngày 30/11/2023`), a day of each year, a
relative one (`trong 05 ngày làm việc kể từ ngày …` → days after issue; `… kể từ ngày kết thúc
kỳ báo cáo/quý` → days after the period ends), a day of the quarter's last month (`trước ngày 15
của tháng cuối quý`). Recurrence (`hằng năm`, `định kỳ 6 tháng`, `hằng quý`) is drafted in the
definition format's own terms. A duty inside a section is that section's agencies' duty: when
they are fewer than the recipients, they are the reporters.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from importer.header import make_date
from importer.model import AgencyRef, Context, Duty
from importer.normalize import collapse_spaces, fold

_REPORT = re.compile(r"\bb\w{1,2}o\s+c\w{1,2}o\b")
_CONSOLIDATE = re.compile(r"\bt\w{1,2}ng\s+h\w{1,2}p\b")
_BEFORE_DATE = re.compile(
    r"(?:\btr(?!ong\b)\w{1,4}|\bch\w{1,2}m\s+nh\w{1,2}t(?:\s+l\w)?)\s+ng\w{1,2}y\s+(\d{1,2})\s*[/.\-]\s*(\d{1,2})"
    r"(?:\s*[/.\-]\s*(\d{4}))?"
)
_BEFORE_DAY = re.compile(
    r"\btr(?!ong\b)\w{1,4}\s+ng\w{1,2}y\s+(\d{1,2})\b(?!\s*[/.\-]\s*\d)(?!\s+(?:cua\s+)?thang\s+cuoi)"
)
_QUARTER_DAY = re.compile(
    r"\btr(?!ong\b)\w{1,4}\s+ng\w{1,2}y\s+(\d{1,2})\s+(?:cua\s+)?th\w{1,3}ng\s+cu\w{1,2}i\s+(quy|ky)\b"
)
_WITHIN = re.compile(
    r"trong\s+(?:vong\s+|thoi\s+han\s+)?(\d{1,3})\s+ng\w{1,2}y(\s+l\w{1,2}m\s+vi\w{1,2}c)?"
    r"(\s+(?:ke\s+tu|sau\s+khi|sau)\s+(?:ngay\s+)?k\w{1,2}t\s+th\w{1,2}c)?"
)
_ANNUAL = re.compile(r"\bh\w{1,2}ng\s+n\w{1,2}m\b|\bdinh\s+ky\s+(?:hang\s+)?nam\b")
_HALF = re.compile(r"\b(?:dinh\s+ky\s+|hang\s+)?(?:6|sau)\s+thang(?:\s+mot\s+lan)?\b")
_QUARTER = re.compile(r"\bh\w{1,2}ng\s+quy\b|\bdinh\s+ky\s+(?:hang\s+)?quy\b|\btheo\s+quy\b")
_TO_WORD = re.compile(r"\b(?:ve|cho|gui|len|den|toi)\s+")


def read_duties(ctx: Context) -> None:
    doc = ctx.doc
    regions: list[tuple[str, int, list[AgencyRef]]] = []
    for s in doc.sections:
        if s.text:
            regions.append((s.text, s.line, s.agencies))
        for it in s.items:
            regions.append((it.text, it.line, s.agencies))
    if doc.closing:
        regions.append((doc.closing.value.replace("\n", " "), doc.closing.line or 0, []))
    for text, line, owners in regions:
        duties_in(ctx, text, line, owners)


def _recurrence(around: str) -> tuple[str, bool]:
    if _QUARTER.search(around) or re.search(r"\bcuoi\s+quy\b|\bket\s+thuc\s+quy\b", around):
        return "quarterly", True
    if _HALF.search(around) and "thang" in around:
        return "half_yearly", True
    if _ANNUAL.search(around):
        return "annual", True
    return "once", False


def _first_period_end(issued: dt.date | None, recurrence: str) -> dt.date | None:
    if issued is None:
        return None
    months = {"quarterly": 3, "half_yearly": 6}.get(recurrence, 12)
    end_month = ((issued.month - 1) // months + 1) * months
    return dt.date(issued.year, end_month, 1)


def duties_in(ctx: Context, text: str, line: int, owners: list[AgencyRef]) -> None:
    doc = ctx.doc
    key = fold(text)
    deadlines: list[tuple[int, int, dict[str, Any] | None, str, int | None]] = []
    rule: dict[str, Any] | None
    for m in _BEFORE_DATE.finditer(key):
        year = int(m.group(3)) if m.group(3) else None
        deadlines.append((m.start(), m.end(), {"d": int(m.group(1)), "m": int(m.group(2))}, "", year))
    for m in _QUARTER_DAY.finditer(key):
        deadlines.append((m.start(), m.end(), {"day_of_last_month": int(m.group(1))}, "", None))
    for m in _WITHIN.finditer(key):
        rule = ({"days_after_period_end": int(m.group(1)), "working": bool(m.group(2))} if m.group(3)
                else {"days_after_issue": int(m.group(1)), "working": bool(m.group(2))})
        deadlines.append((m.start(), m.end(), rule, "", None))
    for m in _BEFORE_DAY.finditer(key):
        deadlines.append((m.start(), m.end(), None,
                          f'"{text[m.start():m.end()]}" names a day but no month', None))
    deadlines.sort(key=lambda d: d[0])
    prev_end = 0
    for start, end, found_rule, note, year in deadlines:
        rule = found_rule
        clause_start = max(key.rfind(";", prev_end, start), key.rfind(". ", prev_end, start), prev_end)
        clause = key[clause_start:start]
        report = list(_REPORT.finditer(clause))
        if not report:
            prev_end = end
            continue
        consolidating = bool(_CONSOLIDATE.search(clause[: report[-1].start()]))
        sentence_start = max(key.rfind(";", 0, start), key.rfind(". ", 0, start), 0)
        around = key[sentence_start : min(len(key), end + 40)]
        recurrence, stated = _recurrence(around)
        to = _recipient_after(ctx, text, clause_start + report[-1].end(), start, line)
        by = None
        if consolidating and doc.duties:
            by = doc.duties[-1].to  # "báo cáo về X … để X tổng hợp, báo cáo Y"
        elif consolidating and owners:
            by = owners[0]
        due: dict[str, Any] | None = None
        due_note = note
        conf = 0.85
        if rule is not None and "d" in rule:
            if year is None:
                year = doc.issued_on.value.year if doc.issued_on else None
                due_note = "the deadline names no year; the year of issue assumed"
                conf = 0.6
            if recurrence == "annual":
                due = {"each_year": f"{rule['d']}/{rule['m']}"}
            elif year is not None and make_date(str(rule["d"]), str(rule["m"]), str(year)):
                due = {"on": dt.date(year, rule["m"], rule["d"])}
                if recurrence in ("quarterly", "half_yearly"):
                    due_note = (f"the first cycle's date; the format repeats it every "
                                f"{'quarter' if recurrence == 'quarterly' else 'half-year'}")
        elif rule is not None and "day_of_last_month" in rule:
            first = _first_period_end(doc.issued_on.value if doc.issued_on else None, recurrence)
            day = rule["day_of_last_month"]
            if first is not None and make_date(str(day), str(first.month), str(first.year)):
                due = {"on": dt.date(first.year, first.month, day)}
                year = first.year
                due_note = (f"day {day} of the last month of each "
                            f"{'quarter' if recurrence == 'quarterly' else 'period'}: the first "
                            "cycle's date, repeated by the recurrence")
        elif rule is not None and "days_after_period_end" in rule:
            due = dict(rule)
            if recurrence == "once":
                due_note = "counted from the end of each reporting period, which the text does not name"
                conf = 0.5
        elif rule is not None:
            due = dict(rule)
            if recurrence != "once":
                due_note = "a days-after-issue deadline cannot recur; check the rule"
                conf = 0.5
        if doc.issued_on and year is None:
            year = doc.issued_on.value.year
        if due is not None and "on" in due and doc.issued_on and due["on"] < doc.issued_on.value:
            conf = min(conf, 0.6)
            due_note = (f"{due_note}; " if due_note else "") + (
                "this falls before the date of issue: choose the first cycle's date by hand")
        reporters = [o for o in owners if not consolidating]
        all_ids = {r.id for r in doc.recipients}
        if reporters and all_ids and {o.id for o in reporters} >= all_ids:
            reporters = []  # every recipient: all tracked
        sentence = collapse_spaces(text[clause_start:end].strip(" ;.,"))
        doc.duties.append(Duty(
            "consolidation" if consolidating and doc.duties else "report",
            _line_in(ctx, text, line, start), to, by, due, due_note, recurrence, stated, year,
            sentence, conf, reporters,
        ))
        prev_end = end


def _line_in(ctx: Context, text: str, first_line: int, offset: int) -> int:
    # Region texts are joined paragraphs; find the line through the document key instead.
    words = fold(text[offset : offset + 40]).split()[:4]
    if words:
        pattern = re.compile(r"\s+".join(map(re.escape, words)))
        at = ctx.t.starts[min(first_line, len(ctx.t.starts)) - 1] if first_line else 0
        found = pattern.search(ctx.t.key, at)
        if found:
            return ctx.t.line_of(found.start())
    return first_line


def _recipient_after(ctx: Context, text: str, start: int, stop: int, line: int) -> AgencyRef | None:
    key = fold(text)
    positions = [start] + [m.end() for m in _TO_WORD.finditer(key, start, stop)]
    for pos in positions:
        skip = re.match(r"\s*(?:ket\s+qua(?:\s+thuc\s+hien)?\s*)?", key[pos:stop])
        at = pos + (skip.end() if skip else 0)
        refs, _ = ctx.refs_from_list(text[at:stop], line, whole=False)
        if refs and not refs[0].is_group:
            return refs[0]
    return None
