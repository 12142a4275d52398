"""`chidao notifications preview` and `chidao notifications outbox`: see a message, see the queue."""

from __future__ import annotations

import argparse
from pathlib import Path

from chidao.cli.common import CliError, print_json, settings
from definitions.errors import DefinitionError
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolutionError, resolve
from ledger.db import ensure_schema, make_engine
from ledger.errors import LedgerError
from notifications.errors import NotificationError
from notifications.outbox import Outbox, OutboxRow
from notifications.render import KINDS
from notifications.samples import preview


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("notifications", help="preview messages; list the outbox")
    commands = group.add_subparsers(dest="notifications_command", metavar="SUBCOMMAND")

    show = commands.add_parser("preview", help="print a rendered message for an agency")
    show.add_argument("definition", type=Path, metavar="DEFINITION")
    show.add_argument(
        "--agency",
        required=True,
        metavar="ID",
        help="the agency told (the issuer for cycle_closed and directive_closed)",
    )
    show.add_argument(
        "--kind", required=True, choices=KINDS, metavar="KIND", help=f"one of: {', '.join(KINDS)}"
    )
    show.add_argument("--lang", choices=("vi", "en"), help="force the language")
    show.add_argument("--cycle", metavar="ID", help="the reporting cycle (default: the first)")
    show.add_argument("--level", type=int, default=1, help="escalation level (default 1)")
    show.add_argument("--html", action="store_true", help="print the HTML part instead of the text")
    show.set_defaults(func=run_preview)

    queue = commands.add_parser("outbox", help="list pending and failed messages")
    queue.add_argument("--failed", action="store_true", help="only messages that failed for good")
    queue.add_argument("--all", action="store_true", help="sent messages too")
    queue.add_argument("--directive", metavar="ID", help="only this directive's messages")
    queue.add_argument("--json", action="store_true", help="machine-readable output")
    queue.set_defaults(func=run_outbox)

    group.set_defaults(func=lambda args: _missing_subcommand(group))


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_preview(args: argparse.Namespace) -> int:
    try:
        directory = load_directory()
        resolved = resolve(load_definition(args.definition, directory), directory)
    except DefinitionError as e:
        raise CliError(f"{args.definition} does not validate:\n{e}") from e
    except (OSError, ResolutionError) as e:
        raise CliError(f"cannot read {args.definition}: {e}") from e
    try:
        notice = preview(
            resolved,
            args.agency,
            args.kind,
            answer_url=settings().webhook_base_url,
            language=args.lang,
            cycle=args.cycle,
            level=args.level,
        )
    except NotificationError as e:
        raise CliError(str(e)) from e
    print(f"To: {notice.email or '(no address)'} ({notice.recipient})")
    print(f"Subject: {notice.subject}")
    print(f"Language: {notice.language}")
    print()
    print(notice.html if args.html else notice.text, end="")
    return 0


def _rows(args: argparse.Namespace) -> list[OutboxRow]:
    config = settings()
    try:
        engine = make_engine(config.resolved_database_url)
        try:
            ensure_schema(engine)
            outbox = Outbox(engine)
            if args.failed:
                return outbox.failed(directive=args.directive)
            if args.all:
                return outbox.all(directive=args.directive)
            return outbox.pending(directive=args.directive) + outbox.failed(
                directive=args.directive
            )
        finally:
            engine.dispose()
    except LedgerError as e:
        raise CliError(str(e)) from e


def run_outbox(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.json:
        print_json([row.as_json() for row in rows])
        return 0
    if not rows:
        print("no failed messages" if args.failed else "the outbox is empty")
        return 0
    for row in rows:
        when = row.updated_at.strftime("%Y-%m-%d %H:%M")
        print(f"{row.status:<8} {row.attempts}× {when}  {row.agency:<22} {row.kind:<22} {row.key}")
        print(f"         {row.recipient or '(no address)'}  {row.subject}")
        if row.last_error:
            print(f"         error: {row.last_error}")
    return 0
