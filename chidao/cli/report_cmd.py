"""`chidao report periodic`: the periodic report (DOCX, XLSX or HTML) of a month, quarter,
half-year or year; the figures are those of `chidao stats --period` (`chidao.periodic`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError, settings
from i18n import _


def run_periodic(
    *,
    period: Annotated[str, Parameter(help=_("2024-11, 2024-Q4, 2024-H2 or 2024"))],
    output: Annotated[
        Path,
        Parameter(
            name=["--output", "-o"], help=_("the file to write: .docx, .xlsx, .html or .pdf")
        ),
    ],
    directive: Annotated[str | None, Parameter(help=_("count only this directive"))] = None,
    as_of: Annotated[
        str | None, Parameter(help=_("business time taken as now (default: the clock)"))
    ] = None,
) -> int:
    from chidao.cli.stats_cmd import gather, now_of, span_of
    from chidao.periodic import WRITERS, build
    from definitions.calendar import default_calendar

    writer = WRITERS.get(output.suffix.lower())
    if writer is None:
        raise CliError(
            _("{path}: write a .docx, .xlsx, .html or .pdf file").format(path=output), exit_code=2
        )
    now = now_of(as_of)
    span = span_of(period, None, None, now)
    found, names = gather(span, now, directive=directive, fixed=as_of is not None)
    report = build(found, names, period, span, now, default_calendar())
    write_file(output, lambda path: writer(report, path))
    print(_("periodic report written to {path}").format(path=output))
    return 0


def write_file(output: Path, write: Callable[[Path], None]) -> None:
    """Write through `OUTPUT.part`, renamed when whole: nothing half-written is left."""
    from chidao.pdf import PdfUnavailable

    partial = output.with_name(output.name + ".part")
    try:
        write(partial)
        partial.replace(output)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise CliError(_("{path}: cannot write: {error}").format(path=output, error=e)) from e
    except PdfUnavailable as e:
        partial.unlink(missing_ok=True)
        raise CliError(_("{path}: no PDF: {error}").format(path=output, error=e)) from e


def run_draft(
    directive: Annotated[str, Parameter(help=_("the directive's id"))],
    /,
    *,
    cycle: Annotated[str, Parameter(help=_("the cycle, e.g. 2023"))],
    output: Annotated[
        Path,
        Parameter(name=["--output", "-o"], help=_("the file to write: .docx, .html or .pdf")),
    ],
    as_of: Annotated[
        str | None, Parameter(help=_("business time taken as now (default: the clock)"))
    ] = None,
) -> int:
    from chidao.cli.stats_cmd import now_of
    from chidao.draft import WRITERS, DraftError, build
    from definitions.calendar import default_calendar
    from ledger.directives import DirectiveNotFound, to_event
    from tasks.runtime import directives_for

    writer = WRITERS.get(output.suffix.lower())
    if writer is None:
        raise CliError(
            _("{path}: write a .docx, .html or .pdf file").format(path=output), exit_code=2
        )
    now = now_of(as_of)
    directives = directives_for(settings().resolved_database_url)
    try:
        state = directives.state(directive, as_of=now if as_of else None)
        events = [to_event(e) for e in directives.events(directive, as_of=now if as_of else None)]
    except DirectiveNotFound as e:
        raise CliError(_("no directive {id!r} in the ledger").format(id=directive)) from e
    try:
        draft = build(state, events, cycle, now, default_calendar())
    except DraftError as e:
        raise CliError(str(e)) from e
    write_file(output, lambda path: writer(draft, path))
    print(_("draft of the consolidated report written to {path}").format(path=output))
    return 0
