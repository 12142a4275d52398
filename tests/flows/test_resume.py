"""`chidao simulate` on a ledger that already holds the directive resumes from its last event.

The simulator's loop (`flows.simulate.simulate`) runs 2810 to 15/11/2023, then again to
05/01/2024 on the same ledger: every run of the second pass happens at or after the last
event of the first (the old code restarted its clock at issuance), no scripted step is
recorded twice, and the ledger ends as one uninterrupted simulation's does.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from flows.simulate import load_scenario, packaged_scenario, simulate
from notifications.mailer import SmtpConfig
from tasks.runtime import directives_for, dispose_all
from tests.flows.inprocess import (
    D2810_ID,
    deliver_in_process,
    ledger_url,
    reconcile_in_process,
    simulate_in_process,
)
from tests.flows.smtp import Inbox, SmtpServer
from tests.lifecycle.helpers import D2810, resolved

pytestmark = [pytest.mark.anyio]


async def test_a_second_simulation_goes_on_from_the_last_event(tmp_path: Path) -> None:
    inbox = Inbox()
    with SmtpServer(inbox) as server:
        smtp = SmtpConfig(host="127.0.0.1", port=server.port, timeout_seconds=5)
        straight = await simulate_in_process(
            ledger_url(tmp_path / "straight.db"), smtp, until=dt.date(2024, 1, 5)
        )
        expected = Counter((e.type, e.idempotency_key) for e in straight.events(D2810_ID))

        url = ledger_url(tmp_path / "resumed.db")
        first = await simulate_in_process(url, smtp, until=dt.date(2023, 11, 15))
        last = first.events(D2810_ID)[-1].business_time
        runs: list[dt.datetime] = []

        async def run_flow(directive_id: str, now: dt.datetime) -> None:
            runs.append(now)
            reconcile_in_process(url, smtp, directive_id, now)
            await deliver_in_process(url, smtp, directive_id, now)

        directives = directives_for(url)
        await simulate(
            resolved(D2810), load_scenario(packaged_scenario(D2810_ID)), directives, run_flow,
            until=dt.date(2024, 1, 5),
        )
    assert runs and min(runs) == last
    events = directives.events(D2810_ID)
    times = [e.business_time for e in events]
    assert times == sorted(times)
    assert Counter((e.type, e.idempotency_key) for e in events) == expected
    dispose_all()
