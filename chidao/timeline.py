"""A directive's timeline: a bar per agency per cycle, from assignment to acceptance.

`build(state, events, as_of)` reads the facts from the directive's events — each cycle's
opening, the reports, acceptances and returns, reminders, escalations (with their level),
extensions asked and granted, hand-overs (WorkTransferred) — and `render_svg` draws them as
one self-contained SVG (no script, no outside links; each mark has a `<title>` a browser shows
on hover). The span after a due date until the report came (or until `as_of`) is drawn red.
`render_html` wraps the SVG in a page with its title and legend.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field

from definitions.calendar import deadline_instant
from i18n import gettext
from i18n.times import person_date, person_time
from lifecycle import events as ev
from lifecycle.events import Event
from lifecycle.state import DirectiveState


class TimelineError(ValueError):
    """A directive that cannot be drawn (not issued)."""


@dataclass(frozen=True)
class Mark:
    at: dt.datetime
    kind: str  # reminder, escalation, extension_asked, extension_granted, handover, report, returned
    label: str


@dataclass
class Bar:
    cycle: str
    agency: str
    name: str
    start: dt.datetime
    due: dt.date
    first_due: dt.date
    end: dt.datetime | None = None  # accepted (or the report, when no acceptance came)
    completed_at: dt.datetime | None = None
    status: str = "assigned"
    marks: list[Mark] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    directive: str
    title: str
    lang: str
    start: dt.datetime
    end: dt.datetime
    as_of: dt.datetime
    cycles: list[tuple[str, list[Bar]]]


def build(state: DirectiveState, events: list[Event], as_of: dt.datetime, lang: str = "vi") -> Timeline:
    resolved = state.resolved
    if resolved is None or state.issued_at is None:
        raise TimelineError(f"directive {state.id} is not issued")
    _ = lambda text: gettext(text, lang)  # noqa: E731
    names = {a.id: a.name for a in resolved.tracked}
    bars: dict[tuple[str, str], Bar] = {}
    opened: dict[str, dt.datetime] = {}
    for cycle in state.cycles.values():
        opened[cycle.id] = cycle.opened_at
        for work in cycle.works.values():
            first = resolved.cycle(cycle.id)
            bars[(cycle.id, work.agency)] = Bar(
                cycle=cycle.id,
                agency=work.agency,
                name=names.get(work.agency, work.agency),
                start=cycle.opened_at,
                due=work.due,
                first_due=first.report_due if first else work.due,
                end=work.accepted_at or work.completed_at,
                completed_at=work.completed_at,
                status=work.status,
            )

    def mark(cycle: str | None, agency: str, at: dt.datetime, kind: str, label: str) -> None:
        for (c, a), bar in bars.items():
            if a == agency and (cycle is None or c == cycle):
                bar.marks.append(Mark(at, kind, label))

    for event in events:
        match event:
            case ev.ReminderSent():
                mark(event.cycle, event.agency, event.at, "reminder",
                     _("reminder (due {due})").format(due=person_date(event.due, lang)))  # fmt: skip
            case ev.EscalationRaised():
                mark(event.cycle, event.agency, event.at, "escalation",
                     _("escalation, level {level}, to {to}").format(
                         level=event.level, to=names.get(event.to, event.to)))  # fmt: skip
            case ev.ExtensionRequested():
                mark(event.cycle, event.agency, event.at, "extension_asked",
                     _("extension asked, to {due}").format(
                         due=person_date(event.proposed_due, lang)))  # fmt: skip
            case ev.ExtensionGranted():
                mark(event.cycle, event.agency, event.at, "extension_granted",
                     _("extension granted, to {due}").format(
                         due=person_date(event.new_due, lang)))  # fmt: skip
            case ev.ExtensionRefused():
                mark(event.cycle, event.agency, event.at, "extension_refused",
                     _("extension refused"))  # fmt: skip
            case ev.ReportSubmitted():
                mark(event.cycle, event.agency, event.at, "report", _("report submitted"))
            case ev.ReportReturned():
                mark(event.cycle, event.agency, event.at, "returned",
                     _("report returned: {reason}").format(reason=event.reason))  # fmt: skip
            case ev.WorkTransferred():
                label = _("handed over to {to}").format(to=names.get(event.to, event.to))
                mark(None, event.agency, event.at, "handover", label)
                mark(None, event.to,  event.at, "handover",
                     _("took over from {agency}").format(
                         agency=names.get(event.agency, event.agency)))  # fmt: skip
            case _:
                pass
    moments = [state.issued_at, as_of if state.status == "active" else state.last_event_at]
    for bar in bars.values():
        moments += [bar.start, deadline_instant(bar.due), *(m.at for m in bar.marks)]
        if bar.end:
            moments.append(bar.end)
    known = [m for m in moments if m is not None]
    start = min(known)
    end = max(known)
    if end - start < dt.timedelta(days=7):
        end = start + dt.timedelta(days=7)
    cycles = []
    for cycle_id in state.cycles:
        rows = sorted((b for (c, _a), b in bars.items() if c == cycle_id), key=_row_order)
        cycles.append((cycle_id, rows))
    d = resolved.definition
    title = _("Timeline of {kind} No. {reference} of {date}").format(
        kind=d.kind, reference=d.reference, date=person_date(d.issued_on, lang)
    )
    return Timeline(state.id, title, lang, start, end, as_of, cycles)


def _row_order(bar: Bar) -> tuple[int, str]:
    return (0 if bar.completed_at is None else 1, bar.name)


# --- drawing -------------------------------------------------------------------------------

LABEL_W = 300
CHART_W = 860
ROW_H = 24
TOP = 70
COLORS = {
    "bar": "#8fb3d9",
    "done": "#3f8f4f",
    "late": "#c0392b",
    "due": "#111",
    "reminder": "#e69f00",
    "escalation": "#b30000",
    "extension_asked": "#0072b2",
    "extension_granted": "#0072b2",
    "extension_refused": "#555",
    "handover": "#7b3fa0",
    "report": "#1b5e20",
    "returned": "#a05a00",
}


def _legend(lang: str) -> list[tuple[str, str]]:
    _ = lambda text: gettext(text, lang)  # noqa: E731
    return [
        ("bar", _("from assignment to acceptance")),
        ("late", _("late")),
        ("due", _("due date")),
        ("reminder", _("reminder")),
        ("escalation", _("escalation")),
        ("extension_granted", _("extension")),
        ("handover", _("hand-over")),
        ("report", _("report")),
    ]


def render_svg(timeline: Timeline) -> str:
    e = html.escape
    span = (timeline.end - timeline.start).total_seconds() or 1.0

    def x(moment: dt.datetime) -> float:
        return LABEL_W + CHART_W * (moment - timeline.start).total_seconds() / span

    rows = sum(1 + len(bars) for _c, bars in timeline.cycles)
    height = TOP + rows * ROW_H + 30
    width = LABEL_W + CHART_W + 60  # room for the last month's label
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Times New Roman, serif" font-size="13" '
        f'role="img" aria-label="{e(timeline.title)}">',
        f"<title>{e(timeline.title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="8" y="20" font-size="16" font-weight="bold">{e(timeline.title)}</text>',
    ]
    # legend
    lx = 8.0
    for kind, label in _legend(timeline.lang):
        out.append(_symbol(kind, lx + 6, 40, ""))
        out.append(f'<text x="{lx + 16:.1f}" y="44">{e(label)}</text>')
        lx += 24 + 7.2 * len(label)
    # month grid
    day = timeline.start.date().replace(day=1)
    while True:
        moment = dt.datetime.combine(day, dt.time(), timeline.start.tzinfo)
        if moment > timeline.end:
            break
        if moment >= timeline.start:
            gx = x(moment)
            out.append(f'<line x1="{gx:.1f}" y1="{TOP - 8}" x2="{gx:.1f}" y2="{height - 24}" '
                       'stroke="#ddd"/>')  # fmt: skip
            out.append(f'<text x="{gx + 2:.1f}" y="{height - 10}" font-size="11" fill="#444">'
                       f'{day:%m/%Y}</text>')  # fmt: skip
        day = (day + dt.timedelta(days=32)).replace(day=1)
    y = TOP
    for cycle_id, bars in timeline.cycles:
        label = gettext("Cycle {cycle}", timeline.lang).format(cycle=cycle_id)
        out.append(f'<text x="8" y="{y + 16}" font-weight="bold">{e(label)}</text>')
        out.append(f'<line x1="0" y1="{y + 22}" x2="{width}" y2="{y + 22}" stroke="#999"/>')
        y += ROW_H
        for bar in bars:
            out.append(_bar(bar, y, x, timeline))
            y += ROW_H
    out.append("</svg>")
    return "\n".join(out)


def _bar(bar: Bar, y: int, x: object, timeline: Timeline) -> str:
    e = html.escape
    xf = x  # a callable, kept loose for the type checker
    assert callable(xf)
    lang = timeline.lang
    mid = y + ROW_H / 2
    end = bar.end or timeline.as_of
    deadline = deadline_instant(bar.due)
    parts = [f'<g class="bar" data-agency="{e(bar.agency)}" data-cycle="{e(bar.cycle)}">']
    name = bar.name if len(bar.name) <= 42 else bar.name[:41] + "…"
    parts.append(f'<text x="8" y="{mid + 4:.1f}"><title>{e(bar.name)}</title>{e(name)}</text>')
    x0, x1 = xf(bar.start), max(xf(end), xf(bar.start) + 2)
    fill = COLORS["done"] if bar.status == "accepted" else COLORS["bar"]
    when = gettext("{start} – {end}", lang).format(
        start=person_date(bar.start, lang), end=person_date(end, lang)
    )
    parts.append(
        f'<rect x="{x0:.1f}" y="{y + 6}" width="{x1 - x0:.1f}" height="{ROW_H - 12}" '
        f'fill="{fill}"><title>{e(bar.name)}: {e(when)}</title></rect>'
    )
    late_end = bar.completed_at or timeline.as_of
    if late_end > deadline:
        lx0, lx1 = xf(deadline), xf(late_end)
        days = (late_end.date() - bar.due).days
        text = gettext("late: {days} days after {due}", lang).format(
            days=max(days, 1), due=person_date(bar.due, lang)
        )
        parts.append(
            f'<rect class="late" x="{lx0:.1f}" y="{y + 6}" width="{max(lx1 - lx0, 1.5):.1f}" '
            f'height="{ROW_H - 12}" fill="{COLORS["late"]}"><title>{e(text)}</title></rect>'
        )
    if bar.first_due != bar.due:
        parts.append(_due(xf(deadline_instant(bar.first_due)), y, lang, bar.first_due, dashed=True))
    parts.append(_due(xf(deadline), y, lang, bar.due))
    for m in bar.marks:
        parts.append(_symbol(m.kind, xf(m.at), mid, f"{person_time(m.at, lang)}: {m.label}"))
    parts.append("</g>")
    return "".join(parts)


def _due(gx: float, y: int, lang: str, due: dt.date, dashed: bool = False) -> str:
    label = gettext("due date", lang) + " " + person_date(due, lang)
    dash = ' stroke-dasharray="3,2"' if dashed else ""
    return (
        f'<line class="due" x1="{gx:.1f}" y1="{y + 2}" x2="{gx:.1f}" y2="{y + ROW_H - 2}" '
        f'stroke="{COLORS["due"]}" stroke-width="2"{dash}><title>{html.escape(label)}</title></line>'
    )


def _symbol(kind: str, cx: float, cy: float, label: str) -> str:
    color = COLORS.get(kind, "#333")
    tip = f"<title>{html.escape(label)}</title>" if label else ""
    cls = f'class="mark {kind}"'
    if kind in ("bar", "late"):
        return f'<rect {cls} x="{cx - 6:.1f}" y="{cy - 5:.1f}" width="12" height="10" fill="{color}"/>'
    if kind == "due":
        return f'<line {cls} x1="{cx:.1f}" y1="{cy - 7:.1f}" x2="{cx:.1f}" y2="{cy + 7:.1f}" stroke="{color}" stroke-width="2"/>'
    if kind == "reminder":
        return f'<circle {cls} cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{color}">{tip}</circle>'
    if kind == "escalation":
        points = f"{cx:.1f},{cy - 7:.1f} {cx - 6:.1f},{cy + 5:.1f} {cx + 6:.1f},{cy + 5:.1f}"
        return f'<polygon {cls} points="{points}" fill="{color}">{tip}</polygon>'
    if kind.startswith("extension"):
        points = f"{cx:.1f},{cy - 6:.1f} {cx + 6:.1f},{cy:.1f} {cx:.1f},{cy + 6:.1f} {cx - 6:.1f},{cy:.1f}"
        fill = color if kind != "extension_asked" else "#fff"
        return f'<polygon {cls} points="{points}" fill="{fill}" stroke="{color}" stroke-width="1.5">{tip}</polygon>'
    if kind == "handover":
        return f'<rect {cls} x="{cx - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10" fill="{color}">{tip}</rect>'
    return f'<circle {cls} cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="#fff" stroke="{color}" stroke-width="2">{tip}</circle>'


def render_html(timeline: Timeline) -> str:
    e = html.escape
    as_of = gettext("As of {moment}", timeline.lang).format(
        moment=person_time(timeline.as_of, timeline.lang)
    )
    return (
        f"<!doctype html><html lang='{e(timeline.lang)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(timeline.title)}</title><style>body{{font-family:'Times New Roman',serif;"
        "margin:1rem}.chart{overflow-x:auto}</style></head><body>"
        f"<h1>{e(timeline.title)}</h1><p>{e(as_of)}</p><div class='chart'>"
        f"{render_svg(timeline)}</div></body></html>"
    )
