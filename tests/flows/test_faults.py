"""The process stopped at every boundary of perform → enqueue → deliver → record, then resumed.

Each case runs 2810 from issuance through its first reminders (16/11/2023) in process
(`tests.flows.inprocess`: the flow's task functions, mail to aiosmtpd on loopback), stops
"the process" the n-th time a named boundary is reached (the `faults` hook raises `Crash`),
then runs the simulation again on the same ledger, and compares it with an uninterrupted run:
the same ledger events (types and keys), each exactly once, and the same Message-IDs
delivered — a second copy of one message only when the stop came at `deliver.accepted`
(the server took the message, the outbox had not yet marked it sent).

The boundaries (`ledger.transaction.Faults`):
  perform.start                  before the action's transaction
  perform.execute.appended       its event appended, its outbox rows not yet (rolled back)
  perform.execute.written        event and outbox rows written, not committed (rolled back)
  perform.execute.before-commit  the same, at the last moment before COMMIT (rolled back)
  perform.execute.committed      event and outbox rows committed, nothing sent
  deliver.claimed                an attempt counted on the message, nothing sent
  deliver.accepted               the SMTP server accepted it, the outbox does not know
  deliver.marked                 marked sent in the outbox, not yet in the ledger
  record.execute.appended        NotificationSent appended, not committed (rolled back)
  record.execute.before-commit   the same, at the last moment before COMMIT
  record.execute.committed       NotificationSent committed
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.directives import Directives
from notifications.mailer import SmtpConfig
from tasks.runtime import dispose_all
from tests.flows.inprocess import D2810_ID, Crash, CrashAt, ledger_url, simulate_in_process
from tests.flows.smtp import Inbox, SmtpServer
from tests.pg import throwaway_database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

UNTIL = dt.date(2023, 11, 16)
POINTS = [
    "perform.start",
    "perform.execute.appended",
    "perform.execute.written",
    "perform.execute.before-commit",
    "perform.execute.committed",
    "deliver.claimed",
    "deliver.accepted",
    "deliver.marked",
    "record.execute.appended",
    "record.execute.written",  # the read side's writers (snapshot, projections) run here
    "record.execute.before-commit",
    "record.execute.committed",
]
# The first time (issuance: the first action, message, record) and the 20th (inside the
# reminders of 16/11); and the 31st, the last, where a run ends.
CASES = [(point, nth) for point in POINTS for nth in (1, 20)] + [
    ("perform.execute.committed", 31),
    ("deliver.marked", 31),
    ("record.execute.committed", 31),
]
DUPLICATING = "deliver.accepted"
# The uninterrupted run: its ledger (type, key) counts and the Message-IDs it delivered.
Straight = tuple[Counter[tuple[str, str]], Counter[str]]


def _ledger(directives: Directives) -> Counter[tuple[str, str]]:
    return Counter((e.type, e.idempotency_key) for e in directives.events(D2810_ID))


async def _run(url: str, inbox: Inbox, faults: CrashAt | None = None) -> Directives:
    with SmtpServer(inbox) as server:
        smtp = SmtpConfig(host="127.0.0.1", port=server.port, timeout_seconds=5)
        return await simulate_in_process(url, smtp, until=UNTIL, faults=faults)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Straight]:
    import asyncio

    url = ledger_url(tmp_path_factory.mktemp("straight") / "ledger.db")
    inbox = Inbox()
    hook = CrashAt()  # never fires: counts the boundaries
    directives = asyncio.run(_run(url, inbox, hook))
    assert set(hook.seen) == set(POINTS), hook.seen
    assert min(hook.seen.values()) >= 31
    ledger = _ledger(directives)
    dispose_all()
    yield ledger, Counter(inbox.ids())


async def _crash_and_resume(url: str, point: str, nth: int) -> tuple[Directives, Inbox]:
    inbox = Inbox()
    hook = CrashAt(point, nth)
    with pytest.raises(Crash):
        await _run(url, inbox, hook)
    assert hook.fired
    dispose_all()  # the process is gone: nothing of it is reused
    directives = await _run(url, inbox)
    return directives, inbox


def _check(
    directives: Directives,
    inbox: Inbox,
    straight: Straight,
    point: str,
) -> None:
    ledger, mails = straight
    found = _ledger(directives)
    assert set(found.values()) == {1}, [k for k, n in found.items() if n > 1]
    assert found == ledger
    delivered = Counter(inbox.ids())
    assert set(delivered) == set(mails)
    extra = delivered - mails
    if point == DUPLICATING:
        assert sum(extra.values()) == 1, extra  # the one message the server had taken
    else:
        assert delivered == mails, extra


@pytest.mark.parametrize(("point", "nth"), CASES, ids=[f"{p}#{n}" for p, n in CASES])
async def test_stopped_and_resumed_equals_uninterrupted(
    tmp_path: Path,
    straight: Straight,
    point: str,
    nth: int,
) -> None:
    url = ledger_url(tmp_path / "ledger.db")
    directives, inbox = await _crash_and_resume(url, point, nth)
    _check(directives, inbox, straight, point)
    dispose_all()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "point", ["perform.execute.written", "deliver.accepted", "deliver.marked",
              "record.execute.before-commit"],
)
async def test_stopped_and_resumed_on_postgres(
    straight: Straight, point: str
) -> None:
    from ledger.db import ensure_schema, make_engine

    with throwaway_database("chidao_faults") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        engine.dispose()
        directives, inbox = await _crash_and_resume(url, point, 20)
        _check(directives, inbox, straight, point)
        dispose_all()
