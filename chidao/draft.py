"""The consolidated report's draft: what the consolidating department edits and sends upward.

`build(state, events, cycle, now, calendar)` gathers, for one cycle of a directive, every
agency's report grouped by the directive's sections and items (the text, the items' status
the agency gave, its files), the agencies that did not report and how late the others were,
and the cycle's four-way count (`lifecycle.stats`). `write_docx` (python-docx) and
`write_html` (self-contained) lay it out in the Decree 30 layout, titled
`BÁO CÁO Kết quả thực hiện Công văn số …`, in the consolidating department's language.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from definitions.calendar import WorkingCalendar, local_date
from i18n import N_, gettext
from i18n.times import person_date
from lifecycle.events import AttachmentRef, Event, ReportSubmitted
from lifecycle.state import DirectiveState
from lifecycle.stats import FOUR, Duty, days_late, duties, standing_at
from notifications.compose import party


class DraftError(ValueError):
    """A draft that cannot be made: no such cycle, or a directive without consolidation."""


@dataclass(frozen=True)
class AgencyReport:
    agency: str
    name: str
    due: dt.date
    reported_on: dt.date | None
    days_late: int  # calendar days after the due date (0: on time); for one not in: as of now
    working_days_late: int
    text: str
    items: dict[str, str]
    attachments: tuple[AttachmentRef, ...]
    status: str


@dataclass(frozen=True)
class ItemLine:
    id: str
    text: str
    statuses: list[tuple[str, str]]  # (agency name, status the agency gave)


@dataclass(frozen=True)
class SectionPart:
    number: int
    heading: str
    items: list[ItemLine]
    reports: list[AgencyReport]


@dataclass(frozen=True)
class Draft:
    directive: str
    lang: str
    cycle: str
    reference: str
    kind: str
    issued_on: dt.date
    issuer: str
    subject: str
    consolidator: str
    consolidation_to: str
    consolidation_due: dt.date | None
    as_of: dt.datetime
    counts: dict[str, int]
    sections: list[SectionPart]
    missing: list[AgencyReport]
    reported: list[AgencyReport]
    extensions_granted: int = 0
    notes: list[str] = field(default_factory=list)


def build(
    state: DirectiveState,
    events: list[Event],
    cycle_id: str,
    now: dt.datetime,
    calendar: WorkingCalendar,
) -> Draft:
    """The draft of `cycle_id`'s consolidated report, as the ledger stands at `now`."""
    resolved = state.resolved
    if resolved is None or cycle_id not in state.cycles:
        known = ", ".join(state.cycles) or "none"
        raise DraftError(f"directive {state.id} has no cycle {cycle_id!r} (cycles: {known})")
    if resolved.consolidator is None:
        raise DraftError(f"directive {state.id} names no consolidating department")
    cycle = state.cycles[cycle_id]
    consolidator = party(resolved, resolved.consolidator)
    lang = consolidator_language(state)
    last: dict[str, ReportSubmitted] = {}
    for event in events:
        if isinstance(event, ReportSubmitted) and event.cycle == cycle_id:
            last[event.agency] = event  # the latest report of each agency stands
    found = [d for d in duties(state) if d.cycle == cycle_id and d.kind == "report"]
    by_agency: dict[str, Duty] = {d.agency: d for d in found}
    counts = dict.fromkeys(FOUR, 0)
    reports: dict[str, AgencyReport] = {}
    for duty in found:
        counts[standing_at(duty, now)] += 1
        late, working = days_late(duty, now, calendar)
        report = last.get(duty.agency)
        work = cycle.works[duty.agency]
        reports[duty.agency] = AgencyReport(
            agency=duty.agency,
            name=party(resolved, duty.agency).named(lang),
            due=duty.due,
            reported_on=local_date(duty.completed_at) if duty.completed_at else None,
            days_late=late,
            working_days_late=working,
            text=report.text if report and duty.completed_at else "",
            items=dict(report.items) if report and duty.completed_at else {},
            attachments=report.attachments if report and duty.completed_at else (),
            status=work.status,
        )
    sections = []
    for assignment in resolved.definition.assignments:
        agencies = [a for a in resolved.tracked if assignment.section in a.sections]
        items: list[ItemLine] = []
        seen: set[str] = set()
        for agency in agencies:
            for item in agency.items:
                if item.section != assignment.section or item.id in seen:
                    continue
                seen.add(item.id)
                statuses = [
                    (reports[a.id].name, reports[a.id].items[item.id])
                    for a in agencies
                    if a.id in reports and item.id in reports[a.id].items
                ]
                items.append(ItemLine(item.id, " ".join(item.text.split()), statuses))
        sections.append(
            SectionPart(
                assignment.section,
                assignment.heading,
                items,
                [reports[a.id] for a in agencies if a.id in reports],
            )
        )
    ordered = [reports[d.agency] for d in found]
    d = resolved.definition
    return Draft(
        directive=state.id,
        lang=lang,
        cycle=cycle_id,
        reference=d.reference,
        kind=d.kind,
        issued_on=d.issued_on,
        issuer=resolved.issuer.name,
        subject=d.subject,
        consolidator=consolidator.named(lang),
        consolidation_to=party(
            resolved, resolved.consolidation_to or resolved.issuer.id
        ).named(lang),
        consolidation_due=cycle.consolidation_due,
        as_of=now,
        counts=counts,
        sections=sections,
        missing=[r for r in ordered if r.reported_on is None],
        reported=sorted(
            (r for r in ordered if r.reported_on is not None),
            key=lambda r: (-r.days_late, r.name),
        ),
        extensions_granted=sum(by_agency[a].extensions_granted for a in by_agency),
    )


def consolidator_language(state: DirectiveState) -> str:
    resolved = state.definition
    tracked = resolved.agency(resolved.consolidator) if resolved.consolidator else None
    return tracked.language if tracked else "vi"


# --- the words -------------------------------------------------------------------------------

STATUS = {"done": N_("done"), "in_progress": N_("in progress"), "not_started": N_("not started")}
FOUR_LABELS = {
    "completed_on_time": N_("on time"),
    "completed_late": N_("late"),
    "open_within": N_("open, within"),
    "open_overdue": N_("open, overdue"),
}


def title(draft: Draft) -> tuple[str, str]:
    """The document's name and its subject line: `BÁO CÁO` / `Kết quả thực hiện …`."""
    t = draft.lang
    return gettext("REPORT", t), gettext(
        "Results of carrying out {kind} No. {reference} of {date} of the {issuer}", t
    ).format(
        kind=draft.kind,
        reference=draft.reference,
        date=person_date(draft.issued_on, t),
        issuer=draft.issuer,
    )


def _blocks(draft: Draft) -> list[tuple[str, object]]:
    """The body as (kind, content) blocks, shared by the two writers."""
    t = draft.lang
    _ = lambda text: gettext(text, t)  # noqa: E731
    out: list[tuple[str, object]] = []
    out.append(("para", _("To: {to}").format(to=draft.consolidation_to)))
    out.append(
        (
            "para",
            _("Reporting cycle {cycle}; the figures stand as of {as_of}.").format(
                cycle=draft.cycle, as_of=person_date(draft.as_of, t)
            ),
        )
    )
    out.append(("h2", _("I. The cycle's figures")))
    total = sum(draft.counts.values())
    out.append(
        (
            "table",
            [
                [_("reports owed"), *(_(FOUR_LABELS[k]) for k in FOUR)],
                [str(total), *(str(draft.counts[k]) for k in FOUR)],
            ],
        )
    )
    if draft.extensions_granted:
        out.append(
            ("para", _("Extensions granted: {n}").format(n=draft.extensions_granted))
        )
    out.append(("h2", _("II. Results by section and item")))
    for section in draft.sections:
        out.append(("h3", f"{section.number}. {section.heading}"))
        for item in section.items:
            line = f"{item.id}) {item.text}"
            if item.statuses:
                line += " — " + "; ".join(
                    f"{name}: {_(STATUS.get(s, s))}" for name, s in item.statuses
                )
            out.append(("bullet", line))
        for report in section.reports:
            if report.reported_on is None:
                out.append(("para", _("{agency}: has not reported.").format(agency=report.name)))
                continue
            out.append(
                (
                    "strong",
                    _("{agency} (reported on {day})").format(
                        agency=report.name, day=person_date(report.reported_on, t)
                    ),
                )
            )
            out.append(("quote", report.text))
            if report.attachments:
                out.append(("files", report.attachments))
    out.append(("h2", _("III. Timeliness")))
    rows = [[_("agency"), _("due"), _("reported on"), _("days late"), _("working days late")]]
    for report in draft.reported:
        rows.append(
            [
                report.name,
                person_date(report.due, t),
                person_date(report.reported_on, t) if report.reported_on else "",
                str(report.days_late),
                str(report.working_days_late),
            ]
        )
    out.append(("table", rows))
    out.append(("h3", _("Agencies that have not reported")))
    if draft.missing:
        for report in draft.missing:
            late = (
                _("{days} days overdue").format(days=report.days_late)
                if report.days_late
                else _("not yet due")
            )
            out.append(
                ("bullet", f"{report.name} ({_('due')} {person_date(report.due, t)}; {late})")
            )
    else:
        out.append(("para", _("Every agency has reported.")))
    out.append(("h2", _("IV. Assessment and proposals")))
    out.append(("para", _("(for the department to write)")))
    return out


def _header(draft: Draft) -> tuple[list[str], list[str], str]:
    t = draft.lang
    left = [draft.consolidator.upper(), gettext("No.: …/BC-…", t)]
    right = [
        gettext("SOCIALIST REPUBLIC OF VIETNAM", t),
        gettext("Independence - Freedom - Happiness", t),
    ]
    dated = gettext("…, day … month … year {year}", t).format(year=draft.as_of.year)
    return left, right, dated


def write_docx(draft: Draft, path: Path) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    document = Document()
    left, right, dated = _header(draft)
    top = document.add_table(rows=1, cols=2)
    top.cell(0, 0).text = "\n".join(left)
    top.cell(0, 1).text = "\n".join(right) + "\n" + dated
    for cell in top.rows[0].cells:
        for paragraph in cell.paragraphs:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    name, subject = title(draft)
    heading = document.add_heading(name, level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    line = document.add_paragraph(subject)
    line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for kind, content in _blocks(draft):
        if kind == "h2":
            document.add_heading(str(content), level=2)
        elif kind == "h3":
            document.add_heading(str(content), level=3)
        elif kind == "bullet":
            document.add_paragraph(str(content), style="List Bullet")
        elif kind == "strong":
            document.add_paragraph().add_run(str(content)).bold = True
        elif kind == "quote":
            document.add_paragraph(str(content), style="Quote")
        elif kind == "files":
            document.add_paragraph(_files_line(draft, content))
        elif kind == "table":
            rows = content if isinstance(content, list) else []
            table = document.add_table(rows=0, cols=len(rows[0]))
            table.style = "Table Grid"
            for row in rows:
                cells = table.add_row().cells
                for cell, value in zip(cells, row, strict=True):
                    cell.text = str(value)
        else:
            document.add_paragraph(str(content))
    document.save(str(path))


STYLE = (
    "body{font-family:'Times New Roman',serif;max-width:50rem;margin:1rem auto;padding:0 1rem;"
    "line-height:1.45}.top{display:grid;grid-template-columns:1fr 1fr;text-align:center;"
    "gap:1rem}h1{text-align:center;margin-bottom:0}.subject{text-align:center;font-weight:bold}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #444;padding:.2rem .5rem}"
    "blockquote{border-left:3px solid #999;margin-left:0;padding-left:1rem;white-space:pre-wrap}"
    "@media (max-width:40rem){.top{grid-template-columns:1fr}}"
)


def _files_line(draft: Draft, refs: object) -> str:
    names = ", ".join(r.name for r in refs if isinstance(r, AttachmentRef)) if isinstance(refs, tuple) else ""
    return gettext("Files attached: {names}", draft.lang).format(names=names)


def render_html(draft: Draft, file_url: Callable[[AttachmentRef], str] | None = None) -> str:
    """The draft as one self-contained page; with `file_url`, each file named links to it
    (the webhook serves the department its agencies' files behind its own link)."""
    e = html.escape
    left, right, dated = _header(draft)
    name, subject = title(draft)
    parts = [
        f"<!doctype html><html lang='{e(draft.lang)}'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(name)} · {e(draft.reference)} · {e(draft.cycle)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<div class='top'><div>" + "<br>".join(e(x) for x in left) + "</div><div>"
        + "<br>".join(e(x) for x in right) + f"<br><em>{e(dated)}</em></div></div>",
        f"<h1>{e(name)}</h1><p class='subject'>{e(subject)}</p>",
    ]
    bullets = False
    for kind, content in _blocks(draft):
        if kind != "bullet" and bullets:
            parts.append("</ul>")
            bullets = False
        if kind == "h2":
            parts.append(f"<h2>{e(str(content))}</h2>")
        elif kind == "h3":
            parts.append(f"<h3>{e(str(content))}</h3>")
        elif kind == "bullet":
            if not bullets:
                parts.append("<ul>")
                bullets = True
            parts.append(f"<li>{e(str(content))}</li>")
        elif kind == "strong":
            parts.append(f"<p><strong>{e(str(content))}</strong></p>")
        elif kind == "quote":
            parts.append(f"<blockquote>{e(str(content))}</blockquote>")
        elif kind == "files":
            refs = [r for r in content if isinstance(r, AttachmentRef)] if isinstance(content, tuple) else []
            if file_url is None:
                parts.append(f"<p>{e(_files_line(draft, content))}</p>")
            else:
                links = ", ".join(f"<a href='{e(file_url(r))}'>{e(r.name)}</a>" for r in refs)
                label = e(gettext("Files attached: {names}", draft.lang)).replace("{names}", links)
                parts.append(f"<p>{label}</p>")
        elif kind == "table":
            rows = content if isinstance(content, list) else []
            parts.append("<table>")
            for n, row in enumerate(rows):
                cell = "th" if n == 0 else "td"
                parts.append("<tr>" + "".join(f"<{cell}>{e(str(v))}</{cell}>" for v in row) + "</tr>")
            parts.append("</table>")
        else:
            parts.append(f"<p>{e(str(content))}</p>")
    if bullets:
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def write_html(draft: Draft, path: Path) -> None:
    path.write_text(render_html(draft), encoding="utf-8")


def write_pdf(draft: Draft, path: Path) -> None:
    """The HTML printed by Debian's chromium (`chidao.pdf`); PdfUnavailable without it."""
    from chidao.pdf import to_pdf

    to_pdf(render_html(draft), path)


WRITERS = {".docx": write_docx, ".html": write_html, ".pdf": write_pdf}
