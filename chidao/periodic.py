"""The periodic report a provincial office presents: the four-way table per agency (ranked),
the consolidated reports apart, the overdue list with days late and escalation level, and the
explanations asked (yêu cầu giải trình) with their answers;
written as DOCX (python-docx), XLSX (openpyxl) or self-contained HTML.

`build` gathers the figures from duties (`lifecycle.stats`, the same counting as `chidao
stats`); the writers only lay them out, in the catalogue's language, dates dd/mm/yyyy.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

from definitions.calendar import WorkingCalendar
from i18n import _
from i18n.times import person_date
from lifecycle.stats import Duty, Figures, Period, days_late, standing_at, tally

FOUR = ("completed_on_time", "completed_late", "open_within", "open_overdue")


@dataclass(frozen=True)
class Overdue:
    directive: str
    agency: str
    kind: str
    due: dt.date
    days: int
    working_days: int
    escalation_level: int


@dataclass(frozen=True)
class ExplanationLine:
    """An explanation asked about a duty of the period, and its answer if given by `as_of`."""

    directive: str
    agency: str
    cycle: str
    asked_at: dt.datetime
    due: dt.date
    text: str
    answered_at: dt.datetime | None
    answer: str | None


@dataclass(frozen=True)
class PeriodicReport:
    period: str
    span: Period
    as_of: dt.datetime
    reports: list[Figures]
    consolidated: list[Figures]
    overdue: list[Overdue]
    names: dict[str, str]
    explanations: tuple[ExplanationLine, ...] = ()


def build(
    found: list[Duty],
    names: dict[str, str],
    period: str,
    span: Period,
    now: dt.datetime,
    calendar: WorkingCalendar,
) -> PeriodicReport:
    figures = tally(found, span, now, calendar, by="agency")
    as_of = span.as_of(now)
    overdue = []
    for duty in found:
        if span.contains(duty.due) and standing_at(duty, as_of) == "open_overdue":
            days, working = days_late(duty, as_of, calendar)
            overdue.append(
                Overdue(duty.directive, duty.agency, duty.kind, duty.due, days, working,
                        duty.escalation_level)
            )  # fmt: skip
    overdue.sort(key=lambda o: (-o.days, -o.escalation_level, o.agency))
    explanations = sorted(
        (
            ExplanationLine(
                duty.directive, duty.agency, duty.cycle, x.requested_at, x.due, x.text,
                x.given_at if x.given_at is not None and x.given_at <= as_of else None,
                x.answer if x.given_at is not None and x.given_at <= as_of else None,
            )
            for duty in found
            if span.contains(duty.due)
            for x in duty.explanations
            if x.requested_at <= as_of
        ),
        key=lambda e: (e.asked_at, e.agency),
    )  # fmt: skip
    return PeriodicReport(
        period, span, as_of, figures["report"], figures["consolidation"], overdue, names,
        tuple(explanations),
    )


def _headers() -> list[str]:
    return [
        _("agency"), _("on time"), _("late"), _("open, within"), _("open, overdue"), _("total"),
        _("on-time rate"),
    ]  # fmt: skip


def _row(report: PeriodicReport, figures: Figures) -> list[str | int]:
    name = _("all") if figures.key == "*" else report.names.get(figures.key, figures.key)
    rate = figures.on_time_rate
    return [
        name, *(figures.counts[k] for k in FOUR), figures.total,
        "—" if rate is None else f"{rate * 100:.1f}%".replace(".", ","),
    ]  # fmt: skip


def _overdue_headers() -> list[str]:
    return [
        _("directive"), _("agency"), _("due"), _("days late"), _("working days late"),
        _("escalation level"),
    ]  # fmt: skip


def _overdue_row(report: PeriodicReport, o: Overdue) -> list[str | int]:
    agency = report.names.get(o.agency, o.agency)
    if o.kind == "consolidation":
        agency = _("{agency} (consolidated report)").format(agency=agency)
    return [report.names.get(o.directive, o.directive), agency, person_date(o.due), o.days,
            o.working_days, o.escalation_level]  # fmt: skip


def _explanation_headers() -> list[str]:
    return [
        _("directive"), _("agency"), _("cycle"), _("asked on"), _("to answer by"),
        _("what is asked"), _("answered on"), _("answer"),
    ]  # fmt: skip


def _explanation_row(report: PeriodicReport, e: ExplanationLine) -> list[str | int]:
    return [
        report.names.get(e.directive, e.directive), report.names.get(e.agency, e.agency), e.cycle,
        person_date(e.asked_at), person_date(e.due), e.text,
        person_date(e.answered_at) if e.answered_at else "—",
        e.answer if e.answer is not None else _("not answered yet"),
    ]  # fmt: skip


def _title(report: PeriodicReport) -> str:
    return _("REPORT on the reporting duties of the period {period}").format(period=report.period)


def _subtitle(report: PeriodicReport) -> str:
    from definitions.calendar import deadline_instant
    from i18n.times import person_time

    past = report.as_of == deadline_instant(report.span.end)
    when = (
        _("the end of {day}").format(day=person_date(report.span.end))
        if past
        else person_time(report.as_of)
    )
    return _("Reporting duties due {start} – {end}, standing as of {as_of}").format(
        start=person_date(report.span.start), end=person_date(report.span.end), as_of=when
    )


def _sections(report: PeriodicReport) -> list[tuple[str, list[str], list[list[str | int]]]]:
    return [
        (_("Agencies' reports"), _headers(), [_row(report, f) for f in report.reports]),
        (_("Consolidated reports"), _headers(), [_row(report, f) for f in report.consolidated]),
        (_("Overdue"), _overdue_headers(), [_overdue_row(report, o) for o in report.overdue]),
        (_("Explanations"), _explanation_headers(),
         [_explanation_row(report, e) for e in report.explanations]),
    ]


def write_docx(report: PeriodicReport, path: Path) -> None:
    from docx import Document

    document = Document()
    top = document.add_table(rows=1, cols=2)
    top.cell(0, 0).text = _("PROVINCIAL PEOPLE'S COMMITTEE") + "\n" + _("No.: …/BC-UBND")
    top.cell(0, 1).text = (
        _("SOCIALIST REPUBLIC OF VIETNAM") + "\n" + _("Independence - Freedom - Happiness")
    )
    document.add_heading(_title(report), level=1)
    document.add_paragraph(_subtitle(report))
    for heading, headers, rows in _sections(report):
        document.add_heading(heading, level=2)
        table = document.add_table(rows=1, cols=len(headers))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, headers, strict=True):
            cell.text = text
        for row in rows:
            cells = table.add_row().cells
            for cell, value in zip(cells, row, strict=True):
                cell.text = str(value)
    document.save(str(path))


def write_xlsx(report: PeriodicReport, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    first = True
    for heading, headers, rows in _sections(report):
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        first = False
        sheet.title = heading[:31]
        sheet.append([_title(report)])
        sheet.append([_subtitle(report)])
        sheet.append(headers)
        for row in rows:
            sheet.append(row)
    book.save(str(path))


def render_html(report: PeriodicReport) -> str:
    parts = [
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>",
        f"<title>{html.escape(_title(report))}</title>",
        "<style>body{font-family:'Times New Roman',serif;max-width:60rem;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #444;padding:.2rem .5rem}</style>",
        "</head><body>",
        f"<h1>{html.escape(_title(report))}</h1><p>{html.escape(_subtitle(report))}</p>",
    ]
    for heading, headers, rows in _sections(report):
        parts.append(f"<h2>{html.escape(heading)}</h2><table><tr>")
        parts.extend(f"<th>{html.escape(h)}</th>" for h in headers)
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_html(report: PeriodicReport, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")


def write_pdf(report: PeriodicReport, path: Path) -> None:
    """The HTML printed by Debian's chromium (`chidao.pdf`); PdfUnavailable without it."""
    from chidao.pdf import to_pdf

    to_pdf(render_html(report), path)


WRITERS = {".docx": write_docx, ".xlsx": write_xlsx, ".html": write_html, ".pdf": write_pdf}
