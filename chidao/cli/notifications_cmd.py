"""`chidao notifications preview` and `chidao notifications outbox`: see a message, see the queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from cyclopts import Parameter

from chidao.cli.common import CliError, print_json, settings
from definitions.errors import DefinitionError
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolutionError, resolve
from i18n import _
from ledger.db import ensure_schema, make_engine
from ledger.errors import LedgerError
from notifications.errors import NotificationError
from notifications.outbox import Outbox, OutboxRow
from notifications.render import KINDS
from notifications.samples import preview

JSON = Annotated[bool, Parameter(help=_("machine-readable output"))]


def run_preview(
    definition: Annotated[Path, Parameter(name="DEFINITION", help=_("the definition file"))],
    /,
    *,
    agency: Annotated[
        str,
        Parameter(
            help=_("the agency told (the issuer for cycle_closed and directive_closed)")
        ),
    ],
    kind: Annotated[str, Parameter(help=_("one of: {kinds}").format(kinds=", ".join(KINDS)))],
    lang: Annotated[
        Literal["vi", "en"] | None, Parameter(help=_("the message's language, vi or en (and the CLI's)"))
    ] = None,
    cycle: Annotated[
        str | None, Parameter(help=_("the reporting cycle (default: the first)"))
    ] = None,
    level: Annotated[int, Parameter(help=_("escalation level (default 1)"))] = 1,
    html: Annotated[bool, Parameter(help=_("print the HTML part instead of the text"))] = False,
) -> int:
    if kind not in KINDS:
        raise CliError(
            _("--kind {kind!r} is not one of: {kinds}").format(kind=kind, kinds=", ".join(KINDS)),
            exit_code=2,
        )
    try:
        directory = load_directory()
        resolved = resolve(load_definition(definition, directory), directory)
    except DefinitionError as e:
        raise CliError(f"{definition} does not validate:\n{e}") from e
    except (OSError, ResolutionError) as e:
        raise CliError(f"cannot read {definition}: {e}") from e
    try:
        notice = preview(
            resolved, agency, kind, answer_url=settings().webhook_base_url,
            language=lang, cycle=cycle, level=level,
        )
    except NotificationError as e:
        raise CliError(str(e)) from e
    print(f"To: {notice.email or '(no address)'} ({notice.recipient})")
    print(f"Subject: {notice.subject}")
    print(f"Language: {notice.language}")
    print()
    print(notice.html if html else notice.text, end="")
    return 0


def _rows(*, failed: bool, every: bool, directive: str | None) -> list[OutboxRow]:
    config = settings()
    try:
        engine = make_engine(config.resolved_database_url)
        try:
            ensure_schema(engine)
            outbox = Outbox(engine)
            if failed:
                return outbox.failed(directive=directive)
            if every:
                return outbox.all(directive=directive)
            return outbox.pending(directive=directive) + outbox.failed(directive=directive)
        finally:
            engine.dispose()
    except LedgerError as e:
        raise CliError(str(e)) from e


def run_outbox(
    *,
    failed: Annotated[bool, Parameter(help=_("only messages that failed for good"))] = False,
    all: Annotated[bool, Parameter(help=_("sent messages too"))] = False,
    directive: Annotated[
        str | None, Parameter(help=_("only this directive's messages"))
    ] = None,
    json: JSON = False,
) -> int:
    rows = _rows(failed=failed, every=all, directive=directive)
    if json:
        print_json([row.as_json() for row in rows])
        return 0
    if not rows:
        print("no failed messages" if failed else "the outbox is empty")
        return 0
    for row in rows:
        when = row.updated_at.strftime("%Y-%m-%d %H:%M")
        print(f"{row.status:<8} {row.attempts}× {when}  {row.agency:<22} {row.kind:<22} {row.key}")
        print(f"         {row.recipient or '(no address)'}  {row.subject}")
        if row.last_error:
            print(f"         error: {row.last_error}")
    return 0
