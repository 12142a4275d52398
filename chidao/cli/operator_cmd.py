"""`chidao record-report`: an operator enters a report an agency delivered earlier (on paper).

The event is dated now, when it is entered (business time never goes back); it carries the day
the report was received, why it is entered late and who entered it, and the status counts
from that day (never before issuance, never after today).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError, operator_actor, said, settings
from chidao.cli.flow_cmd import DIRECTIVE, OPERATOR_ID
from i18n import _


def _day(text: str) -> dt.date:
    for parse in (lambda t: dt.datetime.strptime(t, "%d/%m/%Y").date(), dt.date.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    raise CliError(
        _("--received-on {text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)").format(text=text),
        exit_code=2,
    )


def run_record_report(
    directive: DIRECTIVE,
    agency: Annotated[str, Parameter(help=_("the agency whose report it is"))],
    /,
    *,
    received_on: Annotated[str, Parameter(help=_("the day it was received (dd/mm/yyyy)"))],
    reason: Annotated[str, Parameter(help=_("why it is entered only now"))],
    cycle: Annotated[
        str | None, Parameter(help=_("reporting cycle (default: the current one)"))
    ] = None,
    text: Annotated[str, Parameter(help=_("the report's text"))] = (
        "Báo cáo nhận bằng văn bản giấy."
    ),
    operator: OPERATOR_ID = None,
) -> int:
    from flows.clock import SystemClock
    from i18n.times import person_time
    from ledger.directives import DirectiveNotFound
    from ledger.errors import LedgerError
    from lifecycle import Refused
    from lifecycle import commands as c
    from lifecycle.status import current_cycle
    from tasks.runtime import directives_for

    actor = operator_actor(operator)
    day = _day(received_on)
    try:
        directives = directives_for(settings().resolved_database_url)
        state = directives.state(directive)
        chosen = cycle or current_cycle(state) or ""
        now = SystemClock().now()
        outcome = directives.execute(
            directive,
            c.SubmitReport(
                actor=actor,
                agency=agency,
                cycle=chosen,
                text=text,
                received_on=day,
                received_reason=reason,
            ),
            now,
            key=f"record-report:{directive}:{agency}:{chosen}:{now.isoformat()}",
            live=True,
        )
    except (Refused, DirectiveNotFound, LedgerError) as e:
        raise CliError(said(e)) from e
    if not outcome.events:
        raise CliError(_("nothing was recorded"))
    event = outcome.events[0]
    print(
        _(
            "{directive}: report of {agency} for cycle {cycle} received {received}, "
            "entered {entered} by {actor} (event {version})"
        ).format(
            directive=directive,
            agency=agency,
            cycle=chosen,
            received=f"{day:%d/%m/%Y}",
            entered=person_time(event.business_time),
            actor=actor,
            version=event.version,
        )
    )
    return 0
