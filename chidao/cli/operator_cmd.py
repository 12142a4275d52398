"""`chidao record-report`: an operator enters a report an agency delivered earlier (on paper).

The event is dated now, when it is entered (business time never goes back); it carries the day
the report was received, why it is entered late and who entered it, and the status counts
from that day (never before issuance, never after today).
"""

from __future__ import annotations

import argparse
import datetime as dt

from chidao.cli.common import CliError, add_operator_option, operator_actor, settings
from definitions.calendar import TIMEZONE
from ledger.directives import DirectiveNotFound
from ledger.errors import LedgerError
from lifecycle import Refused
from lifecycle import commands as c
from lifecycle.status import current_cycle


def _day(text: str) -> dt.date:
    for parse in (lambda t: dt.datetime.strptime(t, "%d/%m/%Y").date(), dt.date.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)")


def register(subparsers: argparse._SubParsersAction) -> None:
    record = subparsers.add_parser(
        "record-report", help="enter a report an agency delivered earlier (e.g. on paper)"
    )
    record.add_argument("directive")
    record.add_argument("agency")
    record.add_argument(
        "--received-on", type=_day, required=True, help="the day it was received (dd/mm/yyyy)"
    )
    record.add_argument("--reason", required=True, help="why it is entered only now")
    record.add_argument("--cycle", help="reporting cycle (default: the current one)")
    record.add_argument("--text", default="Báo cáo nhận bằng văn bản giấy.")
    add_operator_option(record)
    record.set_defaults(func=run_record_report)


def run_record_report(args: argparse.Namespace) -> int:
    from tasks.runtime import directives_for

    actor = operator_actor(args.operator)
    try:
        directives = directives_for(settings().resolved_database_url)
        state = directives.state(args.directive)
        cycle = args.cycle or current_cycle(state) or ""
        now = dt.datetime.now(dt.UTC)
        outcome = directives.execute(
            args.directive,
            c.SubmitReport(
                actor=actor,
                agency=args.agency,
                cycle=cycle,
                text=args.text,
                received_on=args.received_on,
                received_reason=args.reason,
            ),
            now,
            key=f"record-report:{args.directive}:{args.agency}:{cycle}:{now.isoformat()}",
            live=True,
        )
    except (Refused, DirectiveNotFound, LedgerError) as e:
        raise CliError(str(e)) from e
    entered = outcome.events[0].business_time.astimezone(TIMEZONE)
    print(
        f"{args.directive}: report of {args.agency} for cycle {cycle} received "
        f"{args.received_on:%d/%m/%Y}, entered {entered:%d/%m/%Y %H:%M} by {actor} "
        f"(event {outcome.events[0].version})"
    )
    return 0
