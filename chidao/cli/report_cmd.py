"""`chidao report periodic`: the periodic report (DOCX, XLSX or HTML) of a month, quarter,
half-year or year; the figures are those of `chidao stats --period` (`chidao.periodic`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError
from i18n import _


def run_periodic(
    *,
    period: Annotated[str, Parameter(help=_("2024-11, 2024-Q4, 2024-H2 or 2024"))],
    output: Annotated[
        Path, Parameter(name=["--output", "-o"], help=_("the file to write: .docx, .xlsx or .html"))
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
            _("{path}: write a .docx, .xlsx or .html file").format(path=output), exit_code=2
        )
    now = now_of(as_of)
    span = span_of(period, None, None, now)
    found, names = gather(span, now, directive=directive, fixed=as_of is not None)
    report = build(found, names, period, span, now, default_calendar())
    partial = output.with_name(output.name + ".part")
    try:
        writer(report, partial)
        partial.replace(output)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise CliError(_("{path}: cannot write: {error}").format(path=output, error=e)) from e
    print(_("periodic report written to {path}").format(path=output))
    return 0
