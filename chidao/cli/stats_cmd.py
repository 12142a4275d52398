"""`chidao stats`: the four-way counts of reporting duties over a period, per agency, directive
or month (the counting is `lifecycle.stats`; this reads the directives and prints)."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from chidao.cli.common import CliError, print_json, settings
from i18n import _

if TYPE_CHECKING:
    from lifecycle.stats import Duty, Period

By = Literal["agency", "directive", "month"]
COLUMNS = (
    "completed_on_time", "completed_late", "open_within", "open_overdue", "total", "on_time_rate",
    "median_days_late", "max_days_late", "median_working_days_late", "max_working_days_late",
    "extensions_asked", "extensions_granted", "explanations_asked", "explanations_answered",
)  # fmt: skip


def _date(text: str | None, where: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as e:
        raise CliError(
            _("{where}: {value!r} is not a date (YYYY-MM-DD)").format(where=where, value=text),
            exit_code=2,
        ) from e


def now_of(as_of: str | None) -> dt.datetime:
    """`--as-of` read, else the clock."""
    from flows.clock import SystemClock
    from i18n.times import parse_moment

    try:
        return parse_moment(as_of) if as_of else SystemClock().now()
    except ValueError as e:
        raise CliError(_("--as-of: {value!r} is not a date-time").format(value=as_of),
                       exit_code=2) from e  # fmt: skip


def span_of(
    period: str | None, start: dt.date | None, end: dt.date | None, now: dt.datetime
) -> Period:
    """The period asked for: `--period`, else `--from`/`--to` (open ends unbounded)."""
    from lifecycle.stats import Period, StatsError, period_of

    if start and end and end < start:
        raise CliError(
            _("--to {end} is before --from {start}").format(end=end, start=start), exit_code=2
        )
    try:
        if period is not None:
            return period_of(period)
        return Period(start or dt.date(1900, 1, 1), end or dt.date(now.year + 100, 12, 31))
    except StatsError as e:
        raise CliError(
            _("--period: {value!r} is not a period; give 2024-11, 2024-Q4, 2024-H2 or 2024").format(
                value=period
            ),
            exit_code=2,
        ) from e


def gather(
    span: Period,
    now: dt.datetime,
    *,
    directive: str | None = None,
    agency: str | None = None,
    fixed: bool = False,
) -> tuple[list[Duty], dict[str, str]]:
    """Every duty of the directives counted, and the names of agencies and directives."""
    from lifecycle.stats import duties
    from tasks.runtime import directives_for

    directives = directives_for(settings().resolved_database_url)
    ids = directives.ids()
    if directive is not None and directive not in ids:
        raise CliError(_("no directive {id!r} in the ledger").format(id=directive))
    chosen = [directive] if directive else ids
    moment = span.as_of(now)
    # a past period (or a moment asked for) is judged on the directives as they stood then
    past = moment if (fixed or moment < now) else None
    states = [directives.state(i, as_of=past) for i in chosen]
    names: dict[str, str] = {}
    for state in [directives.state(i) for i in chosen]:
        if state.resolved is not None:
            names.update({a.id: a.name for a in state.resolved.tracked})
            names.setdefault(state.id, state.resolved.definition.reference)
    if agency is not None and agency not in names:
        raise CliError(_("no agency {id!r} is tracked by any directive counted").format(id=agency))
    found = [d for state in states for d in duties(state)]
    if agency is not None:
        found = [d for d in found if d.agency == agency]
    return found, names


def _number(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    return str(value)


def _rate(value: object) -> str:
    return "—" if value is None else f"{float(str(value)) * 100:.1f}%".replace(".", ",")


def _print_table(title: str, rows: list[dict[str, object]], names: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in (
        _("agency / directive / month"), _("on time"), _("late"), _("open, within"),
        _("open, overdue"), _("total"), _("on-time rate"), _("days late: median/max"),
        _("working days late: median/max"), _("extensions asked/granted"),
        _("explanations asked/answered"),
    ):  # fmt: skip
        table.add_column(header)
    for row in rows:
        key = str(row["key"])
        table.add_row(
            _("all") if key == "*" else names.get(key, key),
            *(str(row[k]) for k in FOUR_KEYS), str(row["total"]), _rate(row["on_time_rate"]),
            f"{_number(row['median_days_late'])}/{_number(row['max_days_late'])}",
            f"{_number(row['median_working_days_late'])}/{_number(row['max_working_days_late'])}",
            f"{row['extensions_asked']}/{row['extensions_granted']}",
            f"{row['explanations_asked']}/{row['explanations_answered']}",
        )  # fmt: skip
    Console(width=200).print(table)


FOUR_KEYS = ("completed_on_time", "completed_late", "open_within", "open_overdue")


def run_stats(
    *,
    agency: Annotated[str | None, Parameter(help=_("count only this agency's duties"))] = None,
    directive: Annotated[str | None, Parameter(help=_("count only this directive"))] = None,
    from_: Annotated[
        str | None, Parameter(name="--from", help=_("first due date counted (YYYY-MM-DD)"))
    ] = None,
    to: Annotated[str | None, Parameter(help=_("last due date counted (YYYY-MM-DD)"))] = None,
    period: Annotated[
        str | None, Parameter(help=_("a period instead: 2024-11, 2024-Q4, 2024-H2 or 2024"))
    ] = None,
    by: Annotated[By, Parameter(help=_("one row per agency, directive or month"))] = "agency",
    json: Annotated[bool, Parameter(help=_("print JSON (ISO 8601 dates)"))] = False,
    csv_: Annotated[bool, Parameter(name="--csv", help=_("print CSV"))] = False,
    as_of: Annotated[
        str | None, Parameter(help=_("business time taken as now (default: the clock)"))
    ] = None,
) -> int:
    from definitions.calendar import default_calendar
    from i18n.times import person_date, person_time
    from lifecycle.stats import tally

    now = now_of(as_of)
    start, end = _date(from_, "--from"), _date(to, "--to")
    if period is not None and (start or end):
        raise CliError(_("give --period or --from/--to, not both"), exit_code=2)
    span = span_of(period, start, end, now)
    found, names = gather(span, now, directive=directive, agency=agency, fixed=as_of is not None)
    figures = tally(found, span, now, default_calendar(), by=by, agency=agency,
                    directive=directive)  # fmt: skip
    reports = [f.as_dict() for f in figures["report"]]
    consolidated = [f.as_dict() for f in figures["consolidation"]]
    data: dict[str, object] = {
        "from": span.start.isoformat(), "to": span.end.isoformat(),
        "as_of": span.as_of(now).isoformat(), "by": by,
        "reports": reports, "consolidated_reports": consolidated,
    }  # fmt: skip
    if json:
        print_json(data)
    elif csv_:
        writer = csv.writer(sys.stdout)
        writer.writerow(["duty", "key", *COLUMNS])
        for kind, rows in (("reports", reports), ("consolidated_reports", consolidated)):
            for row in rows:
                writer.writerow(
                    [kind, row["key"], *("" if row[c] is None else row[c] for c in COLUMNS)]
                )
    else:
        judged = span.as_of(now)
        when = (
            _("the end of {day}").format(day=person_date(span.end))
            if judged < now
            else person_time(judged)
        )
        bounded = period is not None or start is not None or end is not None
        print(
            _("Reporting duties due {start} – {end}, standing as of {as_of}").format(
                start=person_date(span.start), end=person_date(span.end), as_of=when
            )
            if bounded
            else _("Every reporting duty, standing as of {as_of}").format(as_of=when)
        )
        _print_table(_("Agencies' reports"), reports, names)
        _print_table(_("Consolidated reports"), consolidated, names)
    return 0
