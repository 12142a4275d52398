"""`chidao timeline`: a directive's timeline as HTML, SVG or PDF (`chidao.timeline`), and
`chidao attachment`: an operator saves a file attached to a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError, settings
from i18n import _, current_language


def run_timeline(
    directive: Annotated[str, Parameter(help=_("the directive's id"))],
    /,
    *,
    output: Annotated[
        Path,
        Parameter(name=["--output", "-o"], help=_("the file to write: .html, .svg or .pdf")),
    ],
    as_of: Annotated[
        str | None, Parameter(help=_("business time taken as now (default: the clock)"))
    ] = None,
) -> int:
    from chidao.cli.report_cmd import write_file
    from chidao.cli.stats_cmd import now_of
    from chidao.timeline import TimelineError, build, render_html, render_svg
    from ledger.directives import DirectiveNotFound, to_event
    from tasks.runtime import directives_for

    suffix = output.suffix.lower()
    if suffix not in (".html", ".svg", ".pdf"):
        raise CliError(
            _("{path}: write a .html, .svg or .pdf file").format(path=output), exit_code=2
        )
    now = now_of(as_of)
    directives = directives_for(settings().resolved_database_url)
    cut = now if as_of else None
    try:
        state = directives.state(directive, as_of=cut)
        events = [to_event(e) for e in directives.events(directive, as_of=cut)]
        timeline = build(state, events, now, current_language())
    except DirectiveNotFound as e:
        raise CliError(_("no directive {id!r} in the ledger").format(id=directive)) from e
    except TimelineError as e:
        raise CliError(str(e)) from e

    def write(path: Path) -> None:
        if suffix == ".pdf":
            from chidao.pdf import to_pdf

            to_pdf(render_html(timeline), path)
        else:
            text = render_svg(timeline) if suffix == ".svg" else render_html(timeline)
            path.write_text(text, encoding="utf-8")

    write_file(output, write)
    print(_("timeline written to {path}").format(path=output))
    return 0


def run_attachment(
    directive: Annotated[str, Parameter(help=_("the directive's id"))],
    sha256: Annotated[str, Parameter(help=_("the file's SHA-256, as the report event names it"))],
    /,
    *,
    output: Annotated[Path, Parameter(name=["--output", "-o"], help=_("the file to write"))],
) -> int:
    import re

    from ledger.attachments import AttachmentMissing, load
    from ledger.directives import to_event
    from lifecycle.events import ConsolidatedReportSubmitted, ReportSubmitted
    from tasks.runtime import directives_for, engine_for

    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise CliError(_("{value!r} is not a SHA-256 (64 hex digits)").format(value=sha256),
                       exit_code=2)  # fmt: skip
    url = settings().resolved_database_url
    named = [
        e
        for e in (to_event(s) for s in directives_for(url).events(directive))
        if isinstance(e, ReportSubmitted | ConsolidatedReportSubmitted)
        and any(a.sha256 == sha256 for a in e.attachments)
    ]
    if not named:
        raise CliError(_("no report of {directive} names the file {sha}").format(
            directive=directive, sha=sha256))  # fmt: skip
    try:
        blob = load(engine_for(url), sha256)
    except AttachmentMissing as e:
        raise CliError(str(e)) from e
    from chidao.cli.report_cmd import write_file

    def write(path: Path) -> None:
        path.write_bytes(blob.content)

    write_file(output, write)
    print(_("{type}, {size} bytes, written to {path}").format(
        type=blob.media_type, size=len(blob.content), path=output))  # fmt: skip
    return 0
