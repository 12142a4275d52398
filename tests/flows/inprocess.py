"""The directive flow's steps run in process, for crash tests: what `flows.directive.reconcile`
does, through the same task functions (`tasks.actions.perform`, `tasks.mail.deliver`) minus
the Prefect wrapping, with the crash hook (`ledger.transaction.Faults`) passed down.

`Crash` is what a test's hook raises to stop "the process" at a named boundary: a
BaseException, so no `except Exception` on the way swallows it, and an open transaction is
rolled back as it would be when the process dies. `CrashAt(point, nth)` raises on the
`nth` time `point` is reached, and remembers the points it saw.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from definitions.calendar import default_calendar
from flows.simulate import Scenario, load_scenario, packaged_scenario, simulate
from ledger.directives import Directives
from ledger.transaction import Faults
from lifecycle import due_actions
from notifications.mailer import SmtpConfig
from tasks.actions import ActionInput, perform
from tasks.mail import DeliverInput, MailNotDelivered, deliver
from tasks.runtime import directives_for, dispose_all
from tests.lifecycle.helpers import D2810, resolved

D2810_ID = "qn-2810-ubnd-kgvx-2023"
ANSWER_URL = "http://127.0.0.1:8765"


class Crash(BaseException):
    """The process stops here."""


class CrashAt:
    """A fault hook that stops the process the `nth` time `point` is reached."""

    def __init__(self, point: str | None = None, nth: int = 1) -> None:
        self.point, self.nth = point, nth
        self.seen: Counter[str] = Counter()
        self.fired = False

    def __call__(self, point: str) -> None:
        self.seen[point] += 1
        if point == self.point and self.seen[point] == self.nth:
            self.fired = True
            raise Crash(f"{point} #{self.nth}")


def reconcile_in_process(
    database_url: str, smtp: SmtpConfig, directive_id: str, now: dt.datetime, faults: Faults = None
) -> None:
    """One reconciliation as the flow does it: perform what is due, then deliver and record."""
    directives = directives_for(database_url)
    for _ in range(25):
        actions = due_actions(directives.state(directive_id), now, default_calendar())
        if not actions:
            break
        for action in actions:
            perform(
                ActionInput(database_url=database_url, action=action, at=now, answer_url=ANSWER_URL),
                faults=faults,
            )


async def deliver_in_process(
    database_url: str, smtp: SmtpConfig, directive_id: str, now: dt.datetime, faults: Faults = None
) -> None:
    try:
        await deliver(
            DeliverInput(database_url=database_url, smtp=smtp, at=now, directive=directive_id,
                         max_attempts=4),
            faults=faults,
        )
    except MailNotDelivered:
        pass  # the outbox keeps them; the next run tries again


async def simulate_in_process(
    database_url: str,
    smtp: SmtpConfig,
    *,
    until: dt.date,
    faults: Faults = None,
    scenario: Scenario | None = None,
) -> Directives:
    """`chidao simulate` of 2810 to `until`, its runs in process; resumes an existing ledger."""
    directives = directives_for(database_url)

    async def run_flow(directive_id: str, now: dt.datetime) -> None:
        reconcile_in_process(database_url, smtp, directive_id, now, faults)
        await deliver_in_process(database_url, smtp, directive_id, now, faults)

    await simulate(
        resolved(D2810),
        scenario or load_scenario(packaged_scenario(D2810_ID)),
        directives,
        run_flow,
        until=until,
    )
    return directives


def ledger_url(path: Path) -> str:
    dispose_all()
    return f"sqlite:///{path}"
