"""A delivered message does not mark its action done: the reported loss of a reminder, reproduced.

Simulate 2810 to 15/11/2023; enqueue the outbox row of the reminder
`…:ubnd-minh-long:remind@2023-11-30:10wd` as `perform_action` did before its ledger write, and
stop there (the old code wrote the two in separate transactions). Simulating on to the end
delivers the mail and records `NotificationSent`; the old code then took the delivery's key
for the action's and never recorded `ReminderSent` (135 events instead of 136). Mail goes
to aiosmtpd on loopback.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from definitions.calendar import TIMEZONE, default_calendar
from lifecycle import pending_actions
from notifications.compose import compose
from notifications.mailer import SmtpConfig
from notifications.outbox import Outbox
from tasks.runtime import dispose_all, engine_for
from tests.flows.inprocess import ANSWER_URL, D2810_ID, ledger_url, simulate_in_process
from tests.flows.smtp import Inbox, SmtpServer

pytestmark = [pytest.mark.anyio]

REMINDER = f"{D2810_ID}:2023:ubnd-minh-long:remind@2023-11-30:10wd"


async def test_a_reminder_whose_mail_went_first_is_still_recorded(tmp_path: Path) -> None:
    straight_url = ledger_url(tmp_path / "straight.db")
    url = ledger_url(tmp_path / "stopped.db")
    inbox, straight_inbox = Inbox(), Inbox()
    with SmtpServer(straight_inbox) as server:
        smtp = SmtpConfig(host="127.0.0.1", port=server.port, timeout_seconds=5)
        straight = await simulate_in_process(straight_url, smtp, until=dt.date(2024, 1, 5))
    with SmtpServer(inbox) as server:
        smtp = SmtpConfig(host="127.0.0.1", port=server.port, timeout_seconds=5)
        directives = await simulate_in_process(url, smtp, until=dt.date(2023, 11, 15))
        state = directives.state(D2810_ID)
        [action] = [a for a in pending_actions(state, default_calendar()) if a.key == REMINDER]
        stopped_at = dt.datetime(2023, 11, 15, 18, tzinfo=TIMEZONE)
        notices = compose(action, state, answer_url=ANSWER_URL,
                          link_expires=stopped_at + dt.timedelta(days=60))
        assert Outbox(engine_for(url)).enqueue(notices, now=stopped_at) == 1
        # the process stops here; the simulation is then run on to the end
        await simulate_in_process(url, smtp, until=dt.date(2024, 1, 5))
    events = directives.events(D2810_ID)
    by_key = Counter((e.type, e.idempotency_key) for e in events)
    assert by_key[("ReminderSent", REMINDER)] == 1
    assert by_key[("NotificationSent", f"{REMINDER}:delivered")] == 1
    assert len(events) == len(straight.events(D2810_ID)) == 136
    assert sorted(by_key) == sorted(Counter((e.type, e.idempotency_key)
                                            for e in straight.events(D2810_ID)))
    # and the reminder's mail went out once, as in the uninterrupted run
    assert sorted(inbox.ids()) == sorted(straight_inbox.ids())
    dispose_all()
