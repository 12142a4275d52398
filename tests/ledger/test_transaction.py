"""The write transaction: a command's events and everything its writers write commit together.

On a real SQLite file and a real PostgreSQL: a writer's rows are there exactly when the
command's events are; a writer that raises, or a crash (the test hook) anywhere inside the
transaction, leaves neither; a repeated key calls no writer; registered writers run for every
command, per-call writers for theirs; racing writers on PostgreSQL are decided again inside
their own transaction and each command's rows are written once.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import Connection

from ledger.directives import Directives
from ledger.tables import events, outbox
from ledger.transaction import Written
from lifecycle import commands as c
from lifecycle.commands import OPERATOR
from tests.lifecycle.helpers import at, resolved

D = "qn-2810-ubnd-kgvx-2023"


class Crash(BaseException):
    """Raised by the fault hook: the process stops here (not an Exception: nothing catches it)."""


def _outbox_row(key: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": key, "directive": D, "agency": "ubnd-ba-to", "kind": "reminder",
        "recipient": "a@example.vn", "subject": "s", "body_text": "t", "body_html": "h",
        "message_id": f"<{key}@chidao>", "language": "vi", "status": "pending", "attempts": 0,
        "last_error": None, "action_keys": [key], "created_at": now, "updated_at": now,
        "sent_at": None,
    }


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            int(conn.scalar(select(func.count()).select_from(events)) or 0),
            int(conn.scalar(select(func.count()).select_from(outbox)) or 0),
        )


def _issued(engine: Engine) -> Directives:
    directives = Directives.over(engine)
    directives.execute(
        D, c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")), at(2023, 6, 20),
        key="issue",
    )
    return directives


def _ack(agency: str) -> c.Acknowledge:
    return c.Acknowledge(actor=agency, agency=agency)


def test_a_writers_rows_commit_with_the_events(engine: Engine) -> None:
    directives = _issued(engine)
    seen: list[Written] = []

    def write(conn: Connection, written: Written) -> None:
        seen.append(written)
        conn.execute(insert(outbox), _outbox_row(written.key, written.events[0].business_time))

    before = _counts(engine)
    outcome = directives.execute(D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1", writers=[write])
    assert _counts(engine) == (before[0] + 1, before[1] + 1)
    [written] = seen
    assert [e.type for e in written.events] == ["Acknowledged"]
    assert written.before.agencies["ubnd-ba-to"].acknowledged_at is None
    assert written.state.agencies["ubnd-ba-to"].acknowledged_at is not None
    assert written.state.version == written.before.version + 1 == outcome.state.version

    # the same key again: nothing new, and the writer is not called
    again = directives.execute(D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1", writers=[write])
    assert again.repeated and len(seen) == 1
    assert _counts(engine) == (before[0] + 1, before[1] + 1)


def test_a_failing_writer_leaves_nothing(engine: Engine) -> None:
    directives = _issued(engine)

    def write(conn: Connection, written: Written) -> None:
        conn.execute(insert(outbox), _outbox_row(written.key, written.events[0].business_time))
        raise RuntimeError("the outbox write failed")

    before = _counts(engine)
    with pytest.raises(RuntimeError):
        directives.execute(D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1", writers=[write])
    assert _counts(engine) == before
    assert directives.store.find("k1") is None
    # and the command goes through when sent again
    directives.execute(D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1")
    assert _counts(engine)[0] == before[0] + 1


@pytest.mark.parametrize("point", ["execute.appended", "execute.written", "execute.before-commit"])
def test_a_crash_inside_the_transaction_leaves_nothing(engine: Engine, point: str) -> None:
    directives = _issued(engine)

    def write(conn: Connection, written: Written) -> None:
        conn.execute(insert(outbox), _outbox_row(written.key, written.events[0].business_time))

    def faults(reached: str) -> None:
        if reached == point:
            raise Crash(reached)

    before = _counts(engine)
    with pytest.raises(Crash):
        directives.execute(
            D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1", writers=[write], faults=faults
        )
    assert _counts(engine) == before


def test_a_crash_after_commit_keeps_both(engine: Engine) -> None:
    directives = _issued(engine)

    def write(conn: Connection, written: Written) -> None:
        conn.execute(insert(outbox), _outbox_row(written.key, written.events[0].business_time))

    def faults(reached: str) -> None:
        if reached == "execute.committed":
            raise Crash(reached)

    before = _counts(engine)
    with pytest.raises(Crash):
        directives.execute(
            D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="k1", writers=[write], faults=faults
        )
    assert _counts(engine) == (before[0] + 1, before[1] + 1)


def test_registered_writers_run_for_every_command_on_the_callers_transaction(
    engine: Engine,
) -> None:
    directives = _issued(engine)
    versions: list[int] = []
    directives.add_writer(lambda conn, written: versions.append(written.state.version))
    with directives.transaction() as conn:
        directives.execute(D, _ack("ubnd-ba-to"), at(2023, 6, 21), key="a", conn=conn)
        directives.execute(D, _ack("ubnd-son-ha"), at(2023, 6, 21), key="b", conn=conn)
        # not committed yet: another connection does not see them
        assert Directives.over(engine).store.find("a") is None
    assert versions == [versions[0], versions[0] + 1]
    assert directives.store.find("a") is not None and directives.store.find("b") is not None


@pytest.mark.postgres
def test_racing_writers_on_postgres_are_decided_again_and_write_once(
    postgres_ledger_url: str,
) -> None:
    from sqlalchemy import text

    from ledger.db import make_engine

    engine = make_engine(postgres_ledger_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, outbox, agency_secrets, webhook_requests"))
    directives = _issued(engine)
    agencies = ["ubnd-ba-to", "ubnd-son-ha", "ubnd-son-tay", "ubnd-tra-bong", "ubnd-minh-long",
                "ubnd-mo-duc", "ubnd-nghia-hanh", "ubnd-tu-nghia"]
    calls = {a: 0 for a in agencies}
    start = threading.Barrier(len(agencies))
    errors: list[BaseException] = []

    def run(agency: str) -> None:
        def write(conn: Connection, written: Written) -> None:
            calls[agency] += 1
            conn.execute(insert(outbox), _outbox_row(written.key, written.events[0].business_time))

        try:
            start.wait()
            Directives.over(engine).execute(
                D, _ack(agency), at(2023, 6, 21), key=f"ack-{agency}", writers=[write], retries=20
            )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(a,)) for a in agencies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert all(n == 1 for n in calls.values()), calls
    with engine.connect() as conn:
        keys = set(conn.scalars(select(outbox.c.key)))
    assert keys == {f"ack-{a}" for a in agencies}
    state = directives.state(D)
    assert all(state.agencies[a].acknowledged_at for a in agencies)
    engine.dispose()


def test_a_webhook_call_is_one_transaction(engine: Engine) -> None:
    """Claim, decide, append, answer: a crash after the append leaves no claim and no event,
    and the same call sent again is recorded once."""
    from chidao.webhook.service import Caller, Service
    from ledger.tables import webhook_requests

    _issued(engine)
    service = Service(engine, clock=lambda: at(2023, 6, 22))
    caller = Caller(agency="ubnd-ba-to", webhook_id="msg_1", request_sha256="a" * 64)

    def crash(conn: Connection, written: Written) -> None:
        raise Crash("after the append, before the answer")

    service.directives.add_writer(crash)
    before = _counts(engine)
    with pytest.raises(Crash):
        service.handle(caller, D, _ack("ubnd-ba-to"))
    assert _counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(webhook_requests)).first() is None
    service = Service(engine, clock=lambda: at(2023, 6, 22))  # the process, started again
    first = service.handle(caller, D, _ack("ubnd-ba-to"))
    again = service.handle(caller, D, _ack("ubnd-ba-to"))
    assert first.status == again.status == 201 and again.replayed
    assert again.body == first.body
    assert _counts(engine)[0] == before[0] + 1
    with engine.connect() as conn:
        [row] = conn.execute(select(webhook_requests)).all()
    assert row.status_code == 201
